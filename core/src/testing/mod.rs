//! Deterministic testing of whole apps: [`TestDriver`].

mod driver;

pub use driver::TestDriver;
