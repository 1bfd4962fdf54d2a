//! Attribute arguments: `key = value` pairs, checked against a list of valid keys.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprArray, ExprLit, GenericArgument, Lit, LitStr, Meta, PathArguments, Token, Type};

pub use crate::errors::Errors;

/// The parsed arguments, each with the span of its key.
pub struct Args(Vec<(syn::Ident, Expr)>);

impl Args {
    /// Parses `key = value, ...`; keys not in `valid` and repeated keys are errors.
    pub fn parse(attr: TokenStream, what: &str, valid: &[&str], errors: &mut Errors) -> Args {
        let metas = match Punctuated::<Meta, Token![,]>::parse_terminated.parse2(attr) {
            Ok(m) => m,
            Err(e) => {
                errors.push(e.span(), format!("expected `key = value` arguments: {e}"));
                return Args(Vec::new());
            }
        };
        let mut out: Vec<(syn::Ident, Expr)> = Vec::new();
        for meta in metas {
            let Meta::NameValue(nv) = meta else {
                errors.push(
                    meta.span(),
                    format!("expected `key = value`; valid keys for {what}: {}", valid.join(", ")),
                );
                continue;
            };
            let Some(key) = nv.path.get_ident().cloned() else {
                errors.push(
                    nv.path.span(),
                    format!("unknown argument; valid keys for {what}: {}", valid.join(", ")),
                );
                continue;
            };
            if !valid.contains(&key.to_string().as_str()) {
                errors.push(
                    key.span(),
                    format!("unknown argument `{key}`; valid keys for {what}: {}", valid.join(", ")),
                );
                continue;
            }
            if out.iter().any(|(k, _)| *k == key) {
                errors.push(key.span(), format!("duplicate argument `{key}`"));
                continue;
            }
            out.push((key, nv.value));
        }
        Args(out)
    }

    pub fn get(&self, key: &str) -> Option<&Expr> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

/// A string literal.
pub fn string(expr: &Expr, key: &str, errors: &mut Errors) -> Option<LitStr> {
    match expr {
        Expr::Lit(ExprLit { lit: Lit::Str(s), .. }) => Some(s.clone()),
        other => {
            errors.push(other.span(), format!("`{key}` takes a string, e.g. {key} = \"name\""));
            None
        }
    }
}

/// One string or a non-empty list of strings.
pub fn strings(expr: &Expr, key: &str, errors: &mut Errors) -> Vec<LitStr> {
    match expr {
        Expr::Lit(ExprLit { lit: Lit::Str(s), .. }) => vec![s.clone()],
        Expr::Array(ExprArray { elems, .. }) if elems.is_empty() => {
            errors.push(expr.span(), format!("`{key}` needs at least one topic"));
            Vec::new()
        }
        Expr::Array(ExprArray { elems, .. }) => elems.iter().filter_map(|e| string(e, key, errors)).collect(),
        other => {
            errors.push(
                other.span(),
                format!("`{key}` takes a topic or a list of topics, e.g. {key} = [\"a\", \"b\"]"),
            );
            Vec::new()
        }
    }
}

/// A positive integer.
pub fn positive(expr: &Expr, key: &str, errors: &mut Errors) -> Option<usize> {
    if let Expr::Lit(ExprLit { lit: Lit::Int(i), .. }) = expr {
        if let Ok(n) = i.base10_parse::<usize>() {
            if n > 0 {
                return Some(n);
            }
        }
    }
    errors.push(expr.span(), format!("`{key}` takes a positive integer, e.g. {key} = 3"));
    None
}

/// `true` or `false`.
pub fn boolean(expr: &Expr, key: &str, errors: &mut Errors) -> Option<bool> {
    if let Expr::Lit(ExprLit { lit: Lit::Bool(b), .. }) = expr {
        return Some(b.value);
    }
    errors.push(
        expr.span(),
        format!("`{key}` takes `true` or `false`, e.g. {key} = true"),
    );
    None
}

/// One of `choices`, written as a bare word or a string.
pub fn choice(expr: &Expr, key: &str, choices: &[&str], errors: &mut Errors) -> Option<String> {
    let word = match expr {
        Expr::Path(p) => p.path.get_ident().map(|i| i.to_string()),
        Expr::Lit(ExprLit { lit: Lit::Str(s), .. }) => Some(s.value()),
        Expr::Call(c) => match &*c.func {
            Expr::Path(p) if c.args.is_empty() => p.path.get_ident().map(|i| i.to_string()),
            _ => None,
        },
        _ => None,
    };
    match word {
        Some(w) if choices.contains(&w.as_str()) => Some(w),
        _ => {
            errors.push(expr.span(), format!("`{key}` must be one of: {}", choices.join(", ")));
            None
        }
    }
}

/// `[("key", "value"), ...]`
pub fn properties(expr: &Expr, errors: &mut Errors) -> Vec<(LitStr, LitStr)> {
    let msg = "`properties` takes a list of (key, value) strings, e.g. properties = [(\"fetch.min.bytes\", \"1\")]";
    let Expr::Array(ExprArray { elems, .. }) = expr else {
        errors.push(expr.span(), msg);
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in elems {
        match e {
            Expr::Tuple(t) if t.elems.len() == 2 => {
                let mut it = t.elems.iter();
                if let (
                    Some(Expr::Lit(ExprLit { lit: Lit::Str(k), .. })),
                    Some(Expr::Lit(ExprLit { lit: Lit::Str(v), .. })),
                ) = (it.next(), it.next())
                {
                    out.push((k.clone(), v.clone()));
                    continue;
                }
                errors.push(e.span(), msg);
            }
            _ => errors.push(e.span(), msg),
        }
    }
    out
}

/// Builder calls shared by listeners and processors.
pub fn common_calls(args: &Args, errors: &mut Errors) -> Vec<TokenStream> {
    let mut calls = Vec::new();
    if let Some(g) = args.get("group_id").and_then(|e| string(e, "group_id", errors)) {
        calls.push(quote!(.group_id(#g)));
    }
    if let Some(start) = args
        .get("start")
        .and_then(|e| choice(e, "start", &["earliest", "latest"], errors))
    {
        let variant = if start == "earliest" {
            quote!(Earliest)
        } else {
            quote!(Latest)
        };
        calls.push(quote!(.start_from(::kflow::__private::StartFrom::#variant)));
    }
    if let Some(policy) = args.get("on_error").and_then(|e| crate::policy::policy(e, errors)) {
        calls.push(quote!(.on_error(#policy)));
    }
    for (k, v) in args
        .get("properties")
        .map(|e| properties(e, errors))
        .unwrap_or_default()
    {
        calls.push(quote!(.property(#k, #v)));
    }
    calls
}

/// The codec for `value_format`, if set.
pub fn value_codec(args: &Args, errors: &mut Errors) -> Option<TokenStream> {
    let format = args.get("value_format").and_then(|e| {
        choice(
            e,
            "value_format",
            &["json", "string", "bytes", "avro", "json_schema"],
            errors,
        )
    })?;
    Some(match format.as_str() {
        "json" => quote!(::kflow::__private::Json),
        "string" => quote!(::kflow::__private::Utf8),
        "avro" => quote!(::kflow::__private::avro_from_env()),
        "json_schema" => quote!(::kflow::__private::json_schema_from_env()),
        _ => quote!(::kflow::__private::RawBytes),
    })
}

/// The annotated function, or the error to emit (with the item re-emitted).
pub fn item_fn(item: &TokenStream, expected: &str) -> Result<syn::ItemFn, TokenStream> {
    syn::parse2(item.clone()).map_err(|e| {
        let e = syn::Error::new(e.span(), expected).to_compile_error();
        quote!(#e #item)
    })
}

/// A required topic list, e.g. `topics` or `input`.
pub fn required_topics(args: &Args, key: &str, example: &str, errors: &mut Errors) -> Vec<LitStr> {
    match args.get(key) {
        Some(e) => strings(e, key, errors),
        None => {
            errors.push(Span::call_site(), format!("missing `{key}`, e.g. {example}"));
            Vec::new()
        }
    }
}

/// The value that replaces the annotated function: a unit struct of the same name (with
/// its docs) whose associated function `method` is the original function.
pub fn unit_struct(func: &syn::ItemFn, method: &str) -> TokenStream {
    let sig = &func.sig;
    let (ident, vis, block) = (&sig.ident, &func.vis, &func.block);
    let (asyncness, inputs, output) = (&sig.asyncness, &sig.inputs, &sig.output);
    let method = syn::Ident::new(method, sig.ident.span());
    let (docs, attrs): (Vec<_>, Vec<_>) = func.attrs.iter().partition(|a| a.path().is_ident("doc"));
    quote! {
        #(#docs)*
        #[allow(non_camel_case_types)]
        #[derive(Debug, Clone, Copy)]
        #vis struct #ident;

        impl #ident {
            #(#attrs)*
            #vis #asyncness fn #method(#inputs) #output #block
        }
    }
}

/// The single generic type argument of a path segment, e.g. `T` in `Flow<T>`.
pub fn generic_arg(segment: &syn::PathSegment) -> Option<&Type> {
    match &segment.arguments {
        PathArguments::AngleBracketed(a) if a.args.len() == 1 => match a.args.first() {
            Some(GenericArgument::Type(t)) => Some(t),
            _ => None,
        },
        _ => None,
    }
}
