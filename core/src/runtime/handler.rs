//! Listener handlers: async functions whose arguments are extractors, in any order.
//!
//! An argument is one of: the decoded value (any type), [`Meta`], [`Key<K>`],
//! [`Headers`], or the whole [`Record<T>`]. A handler returns `()` or `Result<(), E>`
//! with `E: Into<HandlerError>`. This is what `#[kflow::listener]` checks; it can also be
//! used directly with [`crate::Listener::handler`].
//!
//! ```
//! use kflow_core::runtime::handler::{Handler, Key};
//! use kflow_core::{Meta, Record};
//!
//! async fn on_order(key: Key<String>, order: u32, meta: Meta) {
//!     println!("{} -> {order} at {}", key.0, meta.offset);
//! }
//! fn takes<V, M, H: Handler<V, M>>(_h: H) {}
//! takes::<u32, _, _>(on_order);
//! ```

use std::future::Future;

use futures::future::BoxFuture;
use futures::FutureExt;

use crate::error::HandlerError;
use crate::key::GroupKey;
use crate::record::{Headers, Meta, Record};

/// The record being taken apart by a handler's extractors.
pub struct Parts<V> {
    value: Option<V>,
    record: Record<()>,
}

impl<V> Parts<V> {
    fn new(record: Record<V>) -> Self {
        let (value, record) = record.split();
        Parts {
            value: Some(value),
            record,
        }
    }

    fn take_value(&mut self) -> Result<V, HandlerError> {
        self.value
            .take()
            .ok_or_else(|| "the value was taken by another argument".into())
    }
}

/// Marks the decoded-value extractor.
#[doc(hidden)]
pub struct ViaValue;
/// Marks extractors that copy a part of the record.
#[doc(hidden)]
pub struct ViaPart;
/// Marks the whole-record extractor.
#[doc(hidden)]
pub struct ViaRecord;

/// A type a handler can take as an argument. `M` tells the kinds apart so that any value
/// type works next to the other extractors.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an argument of a listener of `{V}` values",
    note = "listener arguments are: the value type, `Meta`, `Key<K>`, `Headers`, or `Record<T>` (one value or record)"
)]
pub trait FromRecord<V, M>: Sized {
    /// Takes this argument from the record.
    fn from_record(parts: &mut Parts<V>) -> Result<Self, HandlerError>;
}

impl<V> FromRecord<V, ViaValue> for V {
    fn from_record(parts: &mut Parts<V>) -> Result<Self, HandlerError> {
        parts.take_value()
    }
}

impl<V> FromRecord<V, ViaRecord> for Record<V> {
    fn from_record(parts: &mut Parts<V>) -> Result<Self, HandlerError> {
        let value = parts.take_value()?;
        Ok(parts.record.clone().map_value(|()| value))
    }
}

impl<V> FromRecord<V, ViaPart> for Meta {
    fn from_record(parts: &mut Parts<V>) -> Result<Self, HandlerError> {
        Ok(parts.record.meta.clone())
    }
}

impl<V> FromRecord<V, ViaPart> for Headers {
    fn from_record(parts: &mut Parts<V>) -> Result<Self, HandlerError> {
        Ok(parts.record.headers.clone())
    }
}

/// The record key, decoded as `K` (strings as UTF-8, integers big-endian, bytes as they
/// are; see [`GroupKey`]). A null or undecodable key is a handler error.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key<K>(pub K);

impl<V, K: GroupKey> FromRecord<V, ViaPart> for Key<K> {
    fn from_record(parts: &mut Parts<V>) -> Result<Self, HandlerError> {
        let bytes = parts.record.key.as_deref().ok_or("the record has no key")?;
        Ok(Key(K::from_key_bytes(bytes)?))
    }
}

/// What a handler may return: `()` or `Result<(), E>` with `E: Into<HandlerError>`.
#[diagnostic::on_unimplemented(
    message = "a listener must return `()` or `Result<(), E>` with `E: Into<HandlerError>`, not `{Self}`"
)]
pub trait IntoHandlerResult {
    /// The result as kflow sees it.
    fn into_result(self) -> Result<(), HandlerError>;
}

impl IntoHandlerResult for () {
    fn into_result(self) -> Result<(), HandlerError> {
        Ok(())
    }
}

impl<E: Into<HandlerError>> IntoHandlerResult for Result<(), E> {
    fn into_result(self) -> Result<(), HandlerError> {
        self.map_err(Into::into)
    }
}

/// An async function of extractor arguments that handles records of type `V`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a listener handler for `{V}` values",
    note = "a handler is an `async fn` of up to 6 arguments (the value, `Meta`, `Key<K>`, `Headers`, `Record<T>`) returning `()` or `Result<(), E>`"
)]
pub trait Handler<V, M>: Send + Sync + 'static {
    /// Handles one record.
    fn call(&self, record: Record<V>) -> BoxFuture<'static, Result<(), HandlerError>>;
}

macro_rules! impl_handler {
    ($($a:ident $m:ident),+) => {
        impl<F, Fut, V, $($a, $m,)+> Handler<V, ($(($m, $a),)+)> for F
        where
            F: Fn($($a),+) -> Fut + Send + Sync + 'static,
            Fut: Future + Send + 'static,
            Fut::Output: IntoHandlerResult,
            $($a: FromRecord<V, $m> + Send + 'static,)+
            V: Send + 'static,
        {
            #[allow(non_snake_case)]
            fn call(&self, record: Record<V>) -> BoxFuture<'static, Result<(), HandlerError>> {
                let mut parts = Parts::new(record);
                $(
                    let $a = match $a::from_record(&mut parts) {
                        Ok(v) => v,
                        Err(e) => return futures::future::ready(Err(e)).boxed(),
                    };
                )+
                self($($a),+).map(IntoHandlerResult::into_result).boxed()
            }
        }
    };
}

impl_handler!(A1 M1);
impl_handler!(A1 M1, A2 M2);
impl_handler!(A1 M1, A2 M2, A3 M3);
impl_handler!(A1 M1, A2 M2, A3 M3, A4 M4);
impl_handler!(A1 M1, A2 M2, A3 M3, A4 M4, A5 M5);
impl_handler!(A1 M1, A2 M2, A3 M3, A4 M4, A5 M5, A6 M6);
