//! `#[listener]` and `#[processor]` for kflow. They stay thin: parse the arguments, check
//! them and the function (every error at once, each on the offending token, listing what
//! is valid), and generate a few lines over kflow's public traits. On error the original
//! function is still emitted, so no follow-on errors hide the real one.

// Modules point down: `errors` ← `policy` ← `args` ← `listener`, `processor`.
mod args;
mod errors;
mod listener;
mod policy;
mod processor;

use proc_macro::TokenStream;

/// Turns an `async fn` into a listener; see the `kflow` crate docs.
#[proc_macro_attribute]
pub fn listener(attr: TokenStream, item: TokenStream) -> TokenStream {
    listener::expand(attr.into(), item.into()).into()
}

/// Turns `fn(Flow<In>) -> Flow<Out>` into a processor; see the `kflow` crate docs.
#[proc_macro_attribute]
pub fn processor(attr: TokenStream, item: TokenStream) -> TokenStream {
    processor::expand(attr.into(), item.into()).into()
}
