//! Sans-IO POP3 server session for Rampart (grammar and session land here).
