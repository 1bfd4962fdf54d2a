//! `#[processor(...)]`: parse, check, generate.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, ReturnType, Type};

use crate::args::{
    common_calls, generic_arg, item_fn, required_topics, string, unit_struct, value_codec, Args, Errors,
};

const VALID: &[&str] = &[
    "input",
    "output",
    "group_id",
    "properties",
    "value_format",
    "start",
    "on_error",
    "exactly_once",
];

/// `T` when `ty` is written `Flow<T>`.
fn flow_of(ty: &Type) -> Option<&Type> {
    match ty {
        Type::Path(p) if p.qself.is_none() => p
            .path
            .segments
            .last()
            .filter(|s| s.ident == "Flow")
            .and_then(generic_arg),
        _ => None,
    }
}

pub fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let func = match item_fn(&item, "#[processor] goes on a `fn(Flow<In>) -> Flow<Out>`") {
        Ok(f) => f,
        Err(tokens) => return tokens,
    };
    let mut errors = Errors::default();
    let args = Args::parse(attr, "#[processor]", VALID, &mut errors);
    let inputs = required_topics(
        &args,
        "input",
        "#[processor(input = [\"orders\"], output = \"totals\")]",
        &mut errors,
    );
    let sig = &func.sig;
    if let Some(a) = &sig.asyncness {
        errors.push(
            a.span,
            "a processor builds its pipeline and returns it: use a plain `fn` (async work goes in `.then(..)`)",
        );
    }
    if !sig.generics.params.is_empty() {
        errors.push(sig.generics.span(), "a processor cannot be generic");
    }
    let mut input_ty = None;
    match sig.inputs.len() {
        1 => match sig.inputs.first() {
            Some(FnArg::Typed(pt)) => match flow_of(&pt.ty) {
                Some(t) => input_ty = Some(t.clone()),
                None => errors.push(pt.ty.span(), "a processor takes its input as `Flow<In>`"),
            },
            Some(other) => errors.push(other.span(), "a processor is a free function, not a method"),
            None => {}
        },
        _ => errors.push(
            sig.inputs.span(),
            "a processor takes exactly one argument, its input `Flow<In>` (merge several topics with `input = [..]`)",
        ),
    }
    let output_ty = match &sig.output {
        ReturnType::Type(_, ty) => match flow_of(ty) {
            Some(t) => Some(t.clone()),
            None => {
                errors.push(
                    ty.span(),
                    "a processor returns `Flow<Out>` (or `Flow<Sent>` when it ends in `.to(topic)` calls)",
                );
                None
            }
        },
        ReturnType::Default => {
            errors.push(
                sig.ident.span(),
                "a processor returns `Flow<Out>` (or `Flow<Sent>` when it ends in `.to(topic)` calls)",
            );
            None
        }
    };
    let mut calls = common_calls(&args, &mut errors);
    if let Some(true) = args
        .get("exactly_once")
        .and_then(|e| crate::args::boolean(e, "exactly_once", &mut errors))
    {
        calls.push(quote!(.exactly_once()));
    }
    let output = args.get("output").and_then(|e| string(e, "output", &mut errors));
    let mode = match &output {
        Some(_) => quote!(::kflow::__private::Output),
        None => quote!(::kflow::__private::NoOutput),
    };
    if let Some(codec) = value_codec(&args, &mut errors) {
        calls.push(quote!(.value_decoder(#codec).value_encoder(#codec)));
    }
    if let Err(e) = errors.into_result() {
        let e = e.to_compile_error();
        return quote!(#e #item);
    }
    let (input_ty, output_ty) = (input_ty.expect("checked"), output_ty.expect("checked"));
    let output_call = output.map(|out| quote!(.output(#out)));
    let ident = &sig.ident;
    let name = ident.to_string();
    let wrapper = unit_struct(&func, "__kflow_pipeline");
    let new = quote_spanned!(sig.span()=> ::kflow::__private::Processor::<#input_ty, #output_ty>::new);
    quote! {
        #wrapper

        impl ::kflow::__private::IntoProcessor for #ident {
            type In = #input_ty;
            type Out = #output_ty;
            type Mode = #mode;
            fn into_processor(self) -> ::kflow::__private::Processor<#input_ty, #output_ty, #mode> {
                #new(#name, #ident::__kflow_pipeline).input([#(#inputs),*]) #(#calls)* #output_call
            }
        }
    }
}
