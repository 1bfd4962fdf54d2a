//! Record headers between librdkafka and kflow, as bytes.
//!
//! rust-rdkafka's header accessors give names as `&str` and panic (`to_str().unwrap()`)
//! on a name that is not UTF-8, which any producer may write; building headers takes
//! `&str` names too. So this module, the only one in kflow with `unsafe` code, reads and
//! writes headers through librdkafka's C API (`rd_kafka_header_get_all`,
//! `rd_kafka_header_add`), keeping names and values as the bytes they are. librdkafka
//! keeps header names NUL-terminated: a name with a NUL byte in it is read up to that
//! byte.
#![allow(unsafe_code)]

use std::ffi::{c_void, CStr};

use bytes::Bytes;
use kflow_core::Headers;
use rdkafka::bindings as rd;
use rdkafka::message::{BorrowedHeaders, OwnedHeaders};

/// The native header list behind `headers`. `BorrowedHeaders` is a zero-sized view whose
/// address is librdkafka's `rd_kafka_headers_t` (that is how rust-rdkafka makes one).
fn native(headers: &BorrowedHeaders) -> *mut rd::rd_kafka_headers_t {
    headers as *const BorrowedHeaders as *mut rd::rd_kafka_headers_t
}

/// Every header of a message read with rdkafka, as kflow's [`Headers`] (names and values
/// as bytes, in order). Unlike rdkafka's own accessors it does not panic on a header name
/// that is not UTF-8: use it wherever a message's headers are read.
///
/// ```no_run
/// # fn f(m: &rdkafka::message::BorrowedMessage<'_>) {
/// use rdkafka::Message;
/// let headers = kflow_kafka::message_headers(m.headers());
/// for (name, value) in headers.iter_lossy() {
///     println!("{name}: {:?}", value);
/// }
/// # }
/// ```
pub fn message_headers(headers: Option<&BorrowedHeaders>) -> Headers {
    read(headers)
}

/// Copies every header of a received message into kflow's [`Headers`], in order.
pub(crate) fn read(headers: Option<&BorrowedHeaders>) -> Headers {
    let mut out = Headers::new();
    let Some(headers) = headers else {
        return out;
    };
    let list = native(headers);
    for idx in 0.. {
        let mut name = std::ptr::null();
        let mut value = std::ptr::null();
        let mut size = 0usize;
        // SAFETY: `list` is the live header list of a message borrowed for this call;
        // librdkafka writes pointers into it (valid while the message is) or returns an
        // error past the last header.
        let err = unsafe { rd::rd_kafka_header_get_all(list, idx, &mut name, &mut value, &mut size) };
        if err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            break;
        }
        // SAFETY: librdkafka's header names are NUL-terminated C strings it owns.
        let name = unsafe { CStr::from_ptr(name) }.to_bytes();
        let value = (!value.is_null()).then(|| {
            // SAFETY: a non-null value points at `size` bytes owned by the message.
            Bytes::copy_from_slice(unsafe { std::slice::from_raw_parts(value.cast::<u8>(), size) })
        });
        out.push(Bytes::copy_from_slice(name), value);
    }
    out
}

/// librdkafka headers holding `headers` (names as bytes), for a record to send.
pub(crate) fn write(headers: &Headers) -> OwnedHeaders {
    let owned = OwnedHeaders::new_with_capacity(headers.len());
    let list = native(owned.as_borrowed());
    for (name, value) in headers.iter() {
        let (ptr, len) = match value {
            Some(v) => (v.as_ptr().cast::<c_void>(), v.len() as isize),
            None => (std::ptr::null(), 0),
        };
        // SAFETY: `list` is `owned`'s list, which lives to the end of this function and
        // beyond; librdkafka copies the name and value it is given (by pointer and
        // length; a null value with size 0 is a null header).
        let err = unsafe { rd::rd_kafka_header_add(list, name.as_ptr().cast(), name.len() as isize, ptr, len) };
        debug_assert_eq!(err, rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    owned
}

/// Makes librdkafka raise a fatal error on `client` (its test facility
/// `rd_kafka_test_fatal_error`, for fault-injection tests).
pub(crate) fn inject_fatal_error(client: *mut rd::rd_kafka_t, reason: &CStr) -> bool {
    // SAFETY: `client` is a live librdkafka handle owned by the caller; the reason is a
    // NUL-terminated string librdkafka copies.
    let err = unsafe {
        rd::rd_kafka_test_fatal_error(
            client,
            rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
            reason.as_ptr(),
        )
    };
    err == rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_values_that_are_not_utf8_survive_both_ways() {
        let mut headers = Headers::new();
        headers.insert(&b"\xff\xfe-name"[..], &b"\x00\x80value"[..]);
        headers.insert_null("null-one");
        headers.insert("text", "plain");
        let owned = write(&headers);
        let back = read(Some(owned.as_borrowed()));
        assert_eq!(back, headers);
    }
}
