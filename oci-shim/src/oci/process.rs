//! The create → intermediate → init chain that turns a bundle into a
//! container process, and the sync protocol between its stages.

pub(crate) mod channel;
pub(crate) mod credentials;
pub(crate) mod init_process;
pub(crate) mod namespaces;
pub(crate) mod terminal;
pub(crate) mod userns;
