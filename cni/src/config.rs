//! Network configuration discovery.
