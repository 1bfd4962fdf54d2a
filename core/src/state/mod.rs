//! State kept by stateful operators, in stores backed by changelog topics.
//!
//! Each stateful node of a processor's pipeline has a store per partition task, named from
//! the topology (`window`, `state`, then `-2`, ... in build order), and a changelog topic
//! `<app>-<processor>-<store>-changelog` with the inputs' partition count, created at
//! start-up with `cleanup.policy=compact`: task `p` keeps its store in partition `p`. A
//! task restores its stores before it takes a record; a record's offset commits once the
//! state change it caused is written to the changelog.
//!
//! This module holds what every store shares (the changelog writer, the restore) and the
//! keyed custom state of [`crate::flow::Grouped::stateful`] ([`StateValue`]); window
//! stores are in [`crate::window`].

pub(crate) mod changelog;
pub(crate) mod disk;
mod keyed;
pub(crate) mod restore;

pub use keyed::StateValue;
