//! The create → intermediate → init chain that turns a bundle into a
//! container process, one file per stage, named as youki names them:
//!
//! - [`main_process`]: `create`'s side. Forks the intermediate, writes the
//!   id maps it asks for, receives the init's pid, places the init in its
//!   cgroup, runs the create-time hooks on request, waits for "ready".
//! - [`intermediate_process`]: joins and unshares the [`namespaces`]
//!   ([`userns`] for the id-map hand-over), forks the init, reports its pid.
//! - [`init_process`]: the rootfs, hooks, root switch, kernel settings,
//!   [`credentials`], then blocks on the exec FIFO until `start` and
//!   execs ([`exec_args`]).
//! - [`message`] and [`channel`]: the sync protocol and the socketpair
//!   that carries it.
//!
//! Around them: [`rollback`] (create's undo list), [`terminal`] (the
//! console), [`kernel_settings`] (sysctls, rlimits), [`signals`] (the
//! process's clean slate, forwarding while `run`/`exec` wait), and
//! [`exec_process`], the shorter chain of `exec`.

pub(crate) mod channel;
pub(crate) mod credentials;
pub(crate) mod exec_args;
pub(crate) mod exec_process;
pub(crate) mod init_process;
pub(crate) mod intermediate_process;
pub(crate) mod kernel_settings;
pub(crate) mod main_process;
pub(crate) mod message;
pub(crate) mod namespaces;
pub(crate) mod rollback;
pub(crate) mod signals;
pub(crate) mod terminal;
pub(crate) mod userns;
