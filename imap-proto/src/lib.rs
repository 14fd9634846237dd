//! Sans-IO IMAP4rev2 server session for Rampart (grammar, encoder and session land here).
