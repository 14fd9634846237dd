//! The store interface for Rampart: accounts, mailboxes, messages and the outbound queue.
