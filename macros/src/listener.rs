//! `#[listener(...)]`: parse, check, generate.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, GenericArgument, PathArguments, ReturnType, Type};

use crate::args::{
    common_calls, generic_arg, item_fn, positive, required_topics, unit_struct, value_codec, Args, Errors,
};

const VALID: &[&str] = &[
    "topics",
    "group_id",
    "concurrency",
    "properties",
    "value_format",
    "start",
    "on_error",
];
const EXTRACTORS: &str = "the value (any type), `Meta`, `Key<K>`, `Headers`, or `Record<T>`";

/// What an argument of a listener is, judged by how its type is written.
enum Arg {
    Part,
    Record(Type),
    Value(Type),
}

fn last_segment(ty: &Type) -> Option<&syn::PathSegment> {
    match ty {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last(),
        _ => None,
    }
}

fn classify(ty: &Type, errors: &mut Errors) -> Option<Arg> {
    match ty {
        Type::Reference(_) => {
            errors.push(
                ty.span(),
                format!("listener arguments are owned: take `T`, not `&T`; valid arguments are {EXTRACTORS}"),
            );
            None
        }
        Type::ImplTrait(_) | Type::Infer(_) | Type::TraitObject(_) | Type::Never(_) => {
            errors.push(
                ty.span(),
                format!("unsupported listener argument type; valid arguments are {EXTRACTORS}"),
            );
            None
        }
        _ => Some(match last_segment(ty) {
            Some(s) if s.ident == "Meta" || s.ident == "Headers" || s.ident == "Key" => Arg::Part,
            Some(s) if s.ident == "Record" => match generic_arg(s) {
                Some(t) => Arg::Record(t.clone()),
                None => {
                    errors.push(ty.span(), "`Record` needs its value type: `Record<T>`");
                    return None;
                }
            },
            _ => Arg::Value(ty.clone()),
        }),
    }
}

fn check_return(output: &ReturnType, errors: &mut Errors) {
    let ReturnType::Type(_, ty) = output else { return };
    let ok = match &**ty {
        Type::Tuple(t) => t.elems.is_empty(),
        other => last_segment(other).is_some_and(|s| {
            s.ident == "Result"
                && matches!(&s.arguments, PathArguments::AngleBracketed(a)
                    if matches!(a.args.first(), Some(GenericArgument::Type(Type::Tuple(t))) if t.elems.is_empty()))
        }),
    };
    if !ok {
        errors.push(
            ty.span(),
            "a listener returns `()` or `Result<(), E>` with `E: Into<kflow::HandlerError>`",
        );
    }
}

pub fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let func = match item_fn(&item, "#[listener] goes on an `async fn`") {
        Ok(f) => f,
        Err(tokens) => return tokens,
    };
    let mut errors = Errors::default();
    let args = Args::parse(attr, "#[listener]", VALID, &mut errors);
    let topics = required_topics(&args, "topics", "#[listener(topics = [\"orders\"])]", &mut errors);
    let sig = &func.sig;
    if sig.asyncness.is_none() {
        errors.push(sig.fn_token.span, "a listener must be an `async fn`");
    }
    if !sig.generics.params.is_empty() {
        errors.push(sig.generics.span(), "a listener cannot be generic");
    }
    let mut value: Option<Type> = None;
    let mut rejected = false;
    for input in &sig.inputs {
        let FnArg::Typed(pt) = input else {
            errors.push(input.span(), "a listener is a free function, not a method");
            continue;
        };
        match classify(&pt.ty, &mut errors) {
            Some(Arg::Value(t)) | Some(Arg::Record(t)) => match &value {
                Some(first) => errors.push(
                    pt.ty.span(),
                    format!(
                        "only one argument can be the record's value (`{}` already is); the others must be `Meta`, `Key<K>` or `Headers`",
                        quote!(#first)
                    ),
                ),
                None => value = Some(t),
            },
            Some(Arg::Part) => {}
            None => rejected = true,
        }
    }
    if value.is_none() && !rejected && sig.inputs.iter().all(|i| matches!(i, FnArg::Typed(_))) {
        errors.push(
            sig.ident.span(),
            format!("a listener needs an argument for the record's value; valid arguments are {EXTRACTORS}"),
        );
    }
    check_return(&sig.output, &mut errors);
    let mut calls = common_calls(&args, &mut errors);
    if let Some(n) = args
        .get("concurrency")
        .and_then(|e| positive(e, "concurrency", &mut errors))
    {
        calls.push(quote!(.concurrency(#n)));
    }
    if let Some(codec) = value_codec(&args, &mut errors) {
        calls.push(quote!(.value_decoder(#codec)));
    }
    if let Err(e) = errors.into_result() {
        let e = e.to_compile_error();
        return quote!(#e #item);
    }
    let value = value.expect("checked");
    let ident = &sig.ident;
    let name = ident.to_string();
    let wrapper = unit_struct(&func, "__kflow_handler");
    let handler = quote_spanned!(value.span()=> ::kflow::__private::Listener::<#value>::handler);
    quote! {
        #wrapper

        impl ::kflow::__private::IntoListener for #ident {
            type Value = #value;
            fn into_listener(self) -> ::kflow::__private::Listener<#value> {
                #handler(#name, [#(#topics),*], #ident::__kflow_handler) #(#calls)*
            }
        }
    }
}
