//! `on_error = ...`: an error policy written as a chain of steps, checked here and turned
//! into calls of `kflow::policy`'s builders.

use proc_macro2::TokenStream;
use quote::quote;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Lit};

use crate::errors::Errors;

const FORMS: &str = "`fail`, `skip`, `dead_letter`, `dead_letter(suffix = \".DLT\", headers = spring)`, `dead_letter(topic = \"internal.dlq\")`, \
`retry(max_attempts = 3, backoff = exponential(100ms, 2.0))`, `retry_topics([1s, 10s])`, \
`retry_topics([1m, 10m], shared = \"internal.retry\")`, followed by `.then_retry_topics([..])`, `.then_dead_letter()`, `.then_skip()` or `.then_fail()`";

/// Which steps a chain has reached.
#[derive(Clone, Copy, PartialEq)]
enum Stage {
    Retry,
    Topics,
    Final,
}

/// The policy expression for `on_error = <expr>`.
pub fn policy(expr: &Expr, errors: &mut Errors) -> Option<TokenStream> {
    chain(expr, errors).map(|(tokens, _)| tokens)
}

fn chain(expr: &Expr, errors: &mut Errors) -> Option<(TokenStream, Stage)> {
    let p = quote!(::kflow::__private::policy);
    match expr {
        Expr::Path(path) => match path.path.get_ident().map(|i| i.to_string()).as_deref() {
            Some("fail") => Some((quote!(#p::fail()), Stage::Final)),
            Some("skip") => Some((quote!(#p::skip()), Stage::Final)),
            Some("dead_letter") => Some((quote!(#p::dead_letter()), Stage::Final)),
            Some(other @ ("retry" | "retry_topics")) => {
                errors.push(
                    path.span(),
                    format!("`{other}` needs arguments; valid policies: {FORMS}"),
                );
                None
            }
            _ => unknown(expr, errors),
        },
        Expr::Call(call) => {
            let Expr::Path(func) = &*call.func else {
                return unknown(expr, errors);
            };
            let args: Vec<&Expr> = call.args.iter().collect();
            match func.path.get_ident().map(|i| i.to_string()).as_deref() {
                Some("retry") => Some((retry(&args, call.span(), errors)?, Stage::Retry)),
                Some("retry_topics") => {
                    let (delays, shared) = delays(&args, call.span(), errors)?;
                    Some((quote!(#p::retry_topics([#(#delays),*])#shared), Stage::Topics))
                }
                Some("dead_letter") => {
                    let config = dead_letter(&args, errors)?;
                    Some((quote!(#p::dead_letter_with(#config)), Stage::Final))
                }
                Some(name @ ("fail" | "skip")) => {
                    errors.push(call.args.span(), format!("`{name}` takes no arguments"));
                    None
                }
                _ => unknown(expr, errors),
            }
        }
        Expr::MethodCall(m) => {
            let (receiver, stage) = chain(&m.receiver, errors)?;
            let method = m.method.to_string();
            let args: Vec<&Expr> = m.args.iter().collect();
            if stage == Stage::Final {
                errors.push(
                    m.method.span(),
                    "nothing can follow a final step (`fail`, `skip`, `dead_letter`); put retries first",
                );
                return None;
            }
            match method.as_str() {
                "then_retry_topics" if stage == Stage::Retry => {
                    let (delays, shared) = delays(&args, m.method.span(), errors)?;
                    Some((
                        quote!(#receiver.then_retry_topics([#(#delays),*])#shared),
                        Stage::Topics,
                    ))
                }
                "then_retry_topics" => {
                    errors.push(m.method.span(), "retry topics are already set");
                    None
                }
                "then_dead_letter" => {
                    let config = dead_letter(&args, errors)?;
                    Some((quote!(#receiver.then_dead_letter_with(#config)), Stage::Final))
                }
                "then_skip" | "then_fail" if args.is_empty() => {
                    let method = &m.method;
                    Some((quote!(#receiver.#method()), Stage::Final))
                }
                "then_skip" | "then_fail" => {
                    errors.push(m.args.span(), format!("`{method}` takes no arguments"));
                    None
                }
                _ => {
                    errors.push(
                        m.method.span(),
                        format!(
                            "unknown step `{method}`; valid: then_retry_topics, then_dead_letter, then_skip, then_fail"
                        ),
                    );
                    None
                }
            }
        }
        _ => unknown(expr, errors),
    }
}

fn unknown<T>(expr: &Expr, errors: &mut Errors) -> Option<T> {
    errors.push(expr.span(), format!("unknown error policy; valid policies: {FORMS}"));
    None
}

/// Splits `name = value` arguments from positional ones.
fn named<'a>(args: &[&'a Expr]) -> (Vec<&'a Expr>, Vec<(String, &'a Expr, proc_macro2::Span)>) {
    let mut positional = Vec::new();
    let mut names = Vec::new();
    for arg in args {
        match arg {
            Expr::Assign(a) => match &*a.left {
                Expr::Path(p) if p.path.get_ident().is_some() => {
                    let ident = p.path.get_ident().expect("checked");
                    names.push((ident.to_string(), &*a.right, ident.span()));
                }
                _ => positional.push(*arg),
            },
            _ => positional.push(*arg),
        }
    }
    (positional, names)
}

fn check_names(names: &[(String, &Expr, proc_macro2::Span)], valid: &[&str], what: &str, errors: &mut Errors) -> bool {
    let mut ok = true;
    for (name, _, span) in names {
        if !valid.contains(&name.as_str()) {
            errors.push(
                *span,
                format!("unknown argument `{name}` of `{what}`; valid: {}", valid.join(", ")),
            );
            ok = false;
        }
    }
    ok
}

fn get<'a>(names: &[(String, &'a Expr, proc_macro2::Span)], key: &str) -> Option<&'a Expr> {
    names.iter().find(|(n, _, _)| n == key).map(|(_, e, _)| *e)
}

fn retry(args: &[&Expr], span: proc_macro2::Span, errors: &mut Errors) -> Option<TokenStream> {
    let (positional, names) = named(args);
    if !check_names(&names, &["max_attempts", "backoff"], "retry", errors) {
        return None;
    }
    let max = get(&names, "max_attempts").or(positional.first().copied());
    let Some(max) = max else {
        errors.push(
            span,
            "`retry` needs `max_attempts = N` (attempts in all, the first call included)",
        );
        return None;
    };
    let max = match max {
        Expr::Lit(ExprLit { lit: Lit::Int(i), .. }) if i.base10_parse::<u32>().is_ok_and(|n| n >= 1) => {
            i.base10_parse::<u32>().expect("checked")
        }
        other => {
            errors.push(other.span(), "`max_attempts` must be a whole number of at least 1");
            return None;
        }
    };
    let backoff = match get(&names, "backoff").or(positional.get(1).copied()) {
        Some(b) => backoff(b, errors)?,
        None => quote!(::kflow::__private::policy::Backoff::exponential(
            ::std::time::Duration::from_millis(100),
            2.0
        )),
    };
    Some(quote!(::kflow::__private::policy::retry(#max, #backoff)))
}

fn backoff(expr: &Expr, errors: &mut Errors) -> Option<TokenStream> {
    const VALID: &str = "`fixed(1s)` or `exponential(100ms, 2.0)` (optionally with `max = 10s`, `jitter = 0.2`)";
    let Expr::Call(call) = expr else {
        errors.push(expr.span(), format!("expected a backoff: {VALID}"));
        return None;
    };
    let args: Vec<&Expr> = call.args.iter().collect();
    let (positional, names) = named(&args);
    let b = quote!(::kflow::__private::policy::Backoff);
    let mut tokens = match &*call.func {
        Expr::Path(p) if p.path.is_ident("fixed") => {
            let [delay] = positional.as_slice() else {
                errors.push(call.span(), "`fixed` takes one duration, e.g. `fixed(1s)`");
                return None;
            };
            let delay = duration(delay, errors)?;
            quote!(#b::fixed(#delay))
        }
        Expr::Path(p) if p.path.is_ident("exponential") => {
            let [initial, factor] = positional.as_slice() else {
                errors.push(
                    call.span(),
                    "`exponential` takes a first delay and a multiplier, e.g. `exponential(100ms, 2.0)`",
                );
                return None;
            };
            let initial = duration(initial, errors)?;
            let factor = number(factor, "multiplier", errors)?;
            quote!(#b::exponential(#initial, #factor))
        }
        _ => {
            errors.push(call.func.span(), format!("unknown backoff; valid: {VALID}"));
            return None;
        }
    };
    if !check_names(&names, &["max", "jitter"], "backoff", errors) {
        return None;
    }
    if let Some(max) = get(&names, "max") {
        let max = duration(max, errors)?;
        tokens = quote!(#tokens.max_delay(#max));
    }
    if let Some(jitter) = get(&names, "jitter") {
        let jitter = number(jitter, "jitter", errors)?;
        tokens = quote!(#tokens.jitter(#jitter));
    }
    Some(tokens)
}

/// The delays of `retry_topics([..])`, and `.shared_retry_topics(prefix)` when it has
/// `shared = "prefix"`.
fn delays(args: &[&Expr], span: proc_macro2::Span, errors: &mut Errors) -> Option<(Vec<TokenStream>, TokenStream)> {
    let (positional, names) = named(args);
    if !check_names(&names, &["delays", "shared"], "retry_topics", errors) {
        return None;
    }
    let shared = match get(&names, "shared") {
        None => quote!(),
        Some(Expr::Lit(ExprLit { lit: Lit::Str(s), .. })) => quote!(.shared_retry_topics(#s)),
        Some(other) => {
            errors.push(
                other.span(),
                "`shared` must be a string, the prefix of the shared retry topics, e.g. `\"internal.retry\"`",
            );
            return None;
        }
    };
    let list = get(&names, "delays").or(positional.first().copied());
    let Some(Expr::Array(array)) = list else {
        errors.push(
            list.map_or(span, |l| l.span()),
            "retry topics need a list of delays, one per topic, e.g. `[1s, 10s]`",
        );
        return None;
    };
    if array.elems.is_empty() {
        errors.push(array.span(), "the list of retry-topic delays is empty");
        return None;
    }
    let delays = array
        .elems
        .iter()
        .map(|e| duration(e, errors))
        .collect::<Option<Vec<_>>>()?;
    Some((delays, shared))
}

fn dead_letter(args: &[&Expr], errors: &mut Errors) -> Option<TokenStream> {
    let (positional, names) = named(args);
    if let Some(p) = positional.first() {
        errors.push(
            p.span(),
            "expected `suffix = \"...\"`, `topic = \"...\"` or `headers = spring`",
        );
        return None;
    }
    if !check_names(&names, &["suffix", "topic", "headers"], "dead_letter", errors) {
        return None;
    }
    let mut tokens = quote!(::kflow::__private::policy::DeadLetter::new());
    if let Some(suffix) = get(&names, "suffix") {
        let Expr::Lit(ExprLit { lit: Lit::Str(s), .. }) = suffix else {
            errors.push(suffix.span(), "`suffix` must be a string, e.g. `\".DLT\"`");
            return None;
        };
        tokens = quote!(#tokens.suffix(#s));
    }
    if let Some(topic) = get(&names, "topic") {
        let Expr::Lit(ExprLit { lit: Lit::Str(s), .. }) = topic else {
            errors.push(topic.span(), "`topic` must be a string, e.g. `\"internal.dlq\"`");
            return None;
        };
        tokens = quote!(#tokens.topic(#s));
    }
    if let Some(style) = get(&names, "headers") {
        match style {
            Expr::Path(p) if p.path.is_ident("spring") => tokens = quote!(#tokens.spring_headers()),
            Expr::Path(p) if p.path.is_ident("kflow") => {}
            other => {
                errors.push(other.span(), "`headers` must be `kflow` or `spring`");
                return None;
            }
        }
    }
    Some(tokens)
}

/// `100ms`, `5s`, `2m` or `1h`.
fn duration(expr: &Expr, errors: &mut Errors) -> Option<TokenStream> {
    if let Expr::Lit(ExprLit { lit: Lit::Int(i), .. }) = expr {
        if let Ok(n) = i.base10_parse::<u64>() {
            let secs = |k: u64| n.checked_mul(k);
            let tokens = match i.suffix() {
                "ms" => Some(quote!(::std::time::Duration::from_millis(#n))),
                "s" => secs(1).map(|s| quote!(::std::time::Duration::from_secs(#s))),
                "m" => secs(60).map(|s| quote!(::std::time::Duration::from_secs(#s))),
                "h" => secs(3600).map(|s| quote!(::std::time::Duration::from_secs(#s))),
                _ => None,
            };
            if tokens.is_some() {
                return tokens;
            }
        }
    }
    errors.push(
        expr.span(),
        "expected a duration: a whole number with `ms`, `s`, `m` or `h`, e.g. `100ms`",
    );
    None
}

fn number(expr: &Expr, what: &str, errors: &mut Errors) -> Option<TokenStream> {
    match expr {
        Expr::Lit(ExprLit { lit: Lit::Float(f), .. }) if f.suffix().is_empty() => {
            let v: f64 = f.base10_parse().ok()?;
            Some(quote!(#v))
        }
        Expr::Lit(ExprLit { lit: Lit::Int(i), .. }) if i.suffix().is_empty() => {
            let v = i.base10_parse::<u32>().ok()? as f64;
            Some(quote!(#v))
        }
        other => {
            errors.push(other.span(), format!("`{what}` must be a number, e.g. `2.0`"));
            None
        }
    }
}
