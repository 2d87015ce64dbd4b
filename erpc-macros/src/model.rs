//! The trait as the macro understands it, with every check that gives the user a clear
//! message pointing at the offending code.

use proc_macro2::TokenStream;
use syn::spanned::Spanned;
use syn::{
    Attribute, FnArg, Ident, ItemTrait, LitStr, Pat, Path, ReturnType, TraitItem, TraitItemFn, Type,
};

pub struct Service {
    pub item: ItemTrait,
    pub name: String,
    pub krate: Path,
    pub methods: Vec<Method>,
}

pub struct Method {
    pub ident: Ident,
    pub attrs: Vec<Attribute>,
    /// Marked `#[idempotent]`: safe to run twice, so the client's fail modes may resend it.
    pub idempotent: bool,
    pub takes_context: bool,
    pub args: Vec<(Ident, Type)>,
    pub kind: Kind,
    pub default_body: Option<syn::Block>,
    pub sig: syn::Signature,
}

pub enum Kind {
    /// Returns `Result<ok, _>`; `output` is the whole return type.
    Unary {
        ok: Box<Type>,
        output: Box<Type>,
    },
    Oneway,
    /// Takes a `Streaming<input>` (client streaming, bidirectional) or plain arguments
    /// (server streaming), returns `Result<ServerStream<item>, _>` (server streaming,
    /// bidirectional) or `Result<ok, _>` (client streaming).
    Stream {
        input: Option<Box<Type>>,
        output_item: Option<Box<Type>>,
        ok: Box<Type>,
        output: Box<Type>,
    },
}

impl Service {
    /// The methods' names, in declaration order (as clients and tools call them).
    pub fn method_names(&self) -> Vec<String> {
        self.methods.iter().map(|m| m.ident.to_string()).collect()
    }

    pub fn parse(args: TokenStream, item: TokenStream) -> syn::Result<Service> {
        let item: ItemTrait = syn::parse2(item).map_err(|e| {
            syn::Error::new(
                e.span(),
                "#[erpc::service] goes on a trait: `#[erpc::service] trait Greeter { async fn hello(&self, name: String) -> Result<String, erpc::Status>; }`",
            )
        })?;
        let mut name = item.ident.to_string();
        let mut krate: Path = syn::parse_quote!(::erpc);
        let parser = syn::meta::parser(|meta| {
            if meta.path.is_ident("name") {
                name = meta.value()?.parse::<LitStr>()?.value();
                Ok(())
            } else if meta.path.is_ident("crate") {
                krate = meta.value()?.parse::<LitStr>()?.parse()?;
                Ok(())
            } else {
                Err(meta.error("unknown #[erpc::service] option; expected `name = \"...\"` or `crate = \"...\"`"))
            }
        });
        syn::parse::Parser::parse2(parser, args)?;
        if !item.generics.params.is_empty() {
            return Err(syn::Error::new(
                item.generics.span(),
                "#[erpc::service] traits cannot be generic: the client and server need concrete request and response types",
            ));
        }
        let mut methods = Vec::new();
        for trait_item in &item.items {
            match trait_item {
                TraitItem::Fn(f) => methods.push(Method::parse(f)?),
                other => {
                    return Err(syn::Error::new(
                        other.span(),
                        "#[erpc::service] traits may contain only async methods",
                    ));
                }
            }
        }
        Ok(Service {
            item,
            name,
            krate,
            methods,
        })
    }
}

impl Method {
    fn parse(f: &TraitItemFn) -> syn::Result<Method> {
        let sig = &f.sig;
        if sig.asyncness.is_none() {
            return Err(syn::Error::new(
                sig.fn_token.span(),
                format!(
                    "erpc service methods must be `async fn`: write `async fn {}(...)`",
                    sig.ident
                ),
            ));
        }
        if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
            return Err(syn::Error::new(
                sig.generics.span(),
                "erpc service methods cannot be generic: requests and responses need concrete types",
            ));
        }
        if let Some(variadic) = &sig.variadic {
            return Err(syn::Error::new(
                variadic.span(),
                "variadic arguments are not supported",
            ));
        }
        let mut inputs = sig.inputs.iter();
        match inputs.next() {
            Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_none() => {}
            Some(FnArg::Receiver(r)) => {
                return Err(syn::Error::new(
                    r.span(),
                    "erpc service methods take `&self` (handlers run concurrently, so not `&mut self` or `self`)",
                ));
            }
            _ => {
                return Err(syn::Error::new(
                    sig.ident.span(),
                    "erpc service methods take `&self` as their first argument",
                ));
            }
        }
        let mut takes_context = false;
        let mut args = Vec::new();
        for (i, input) in inputs.enumerate() {
            let FnArg::Typed(pat_type) = input else {
                unreachable!("only the first argument can be a receiver")
            };
            let Pat::Ident(pat) = &*pat_type.pat else {
                return Err(syn::Error::new(
                    pat_type.pat.span(),
                    "erpc service arguments must be plain names (`name: Type`), not patterns",
                ));
            };
            let ty = (*pat_type.ty).clone();
            if i == 0 && is_context(&ty) {
                takes_context = true;
                continue;
            }
            if is_context(&ty) {
                return Err(syn::Error::new(
                    ty.span(),
                    "the call's `Context` must be the first argument after `&self`",
                ));
            }
            if matches!(ty, Type::Reference(_)) {
                return Err(syn::Error::new(
                    ty.span(),
                    "erpc service arguments must be owned types (`String`, not `&str`): they are decoded from the request",
                ));
            }
            if matches!(ty, Type::ImplTrait(_)) {
                return Err(syn::Error::new(
                    ty.span(),
                    "erpc service arguments cannot be `impl Trait`: they are decoded into a concrete type",
                ));
            }
            args.push((pat.ident.clone(), ty));
        }
        let oneway = f.attrs.iter().any(|a| a.path().is_ident("oneway"));
        let idempotent = f.attrs.iter().find(|a| a.path().is_ident("idempotent"));
        let attrs: Vec<Attribute> = f
            .attrs
            .iter()
            .filter(|a| !a.path().is_ident("oneway") && !a.path().is_ident("idempotent"))
            .cloned()
            .collect();
        let kind = match (&sig.output, oneway) {
            (ReturnType::Default, true) => Kind::Oneway,
            (ReturnType::Type(_, ty), true) => {
                return Err(syn::Error::new(
                    ty.span(),
                    "a #[oneway] method returns nothing: remove the return type",
                ));
            }
            (ReturnType::Default, false) => {
                return Err(syn::Error::new(
                    sig.ident.span(),
                    "erpc methods return `Result<T, erpc::Status>`; mark methods without a response `#[oneway]`",
                ));
            }
            (ReturnType::Type(_, ty), false) => {
                let ok = result_ok_type(ty)?;
                let input = streaming_input(&args)?;
                let output_item = single_generic(&ok, "ServerStream");
                if input.is_none() && output_item.is_none() {
                    Kind::Unary {
                        ok: Box::new(ok),
                        output: ty.clone(),
                    }
                } else {
                    Kind::Stream {
                        input: input.map(Box::new),
                        output_item: output_item.map(Box::new),
                        ok: Box::new(ok),
                        output: ty.clone(),
                    }
                }
            }
        };
        if let Some(attr) = idempotent {
            if let Err(e) = attr.meta.require_path_only() {
                return Err(syn::Error::new(
                    e.span(),
                    "#[idempotent] takes no arguments",
                ));
            }
            if !matches!(kind, Kind::Unary { .. }) {
                return Err(syn::Error::new(
                    attr.span(),
                    "#[idempotent] marks a request-response method (a fail mode may resend its call); oneway and streaming methods are never resent",
                ));
            }
        }
        if oneway && streaming_input(&args)?.is_some() {
            return Err(syn::Error::new(
                sig.ident.span(),
                "a #[oneway] method cannot take a `Streaming` argument",
            ));
        }
        Ok(Method {
            ident: sig.ident.clone(),
            attrs,
            idempotent: idempotent.is_some(),
            takes_context,
            args,
            kind,
            default_body: f.default.clone(),
            sig: sig.clone(),
        })
    }
}

/// `T` if `ty` is `<name><T>` (by its last path segment).
fn single_generic(ty: &Type, name: &str) -> Option<Type> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != name {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match (args.args.len(), args.args.first()) {
        (1, Some(syn::GenericArgument::Type(t))) => Some(t.clone()),
        _ => None,
    }
}

/// The message type of a `Streaming<T>` argument, which must then be the only one.
fn streaming_input(args: &[(Ident, Type)]) -> syn::Result<Option<Type>> {
    let streams: Vec<&Type> = args
        .iter()
        .map(|(_, ty)| ty)
        .filter(|ty| single_generic(ty, "Streaming").is_some())
        .collect();
    match (streams.as_slice(), args.len()) {
        ([], _) => Ok(None),
        ([one], 1) => Ok(single_generic(one, "Streaming")),
        ([one, ..], _) => Err(syn::Error::new(
            one.span(),
            "a `Streaming<T>` argument must be the method's only argument (after an optional `Context`): the request is the stream",
        )),
    }
}

fn is_context(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.qself.is_none()
        && p.path.segments.last().is_some_and(|s| s.ident == "Context" && s.arguments.is_empty()))
}

fn result_ok_type(ty: &Type) -> syn::Result<Type> {
    let error = || syn::Error::new(ty.span(), "erpc methods return `Result<T, erpc::Status>`");
    let Type::Path(path) = ty else {
        return Err(error());
    };
    let last = path.path.segments.last().ok_or_else(error)?;
    if last.ident != "Result" {
        return Err(error());
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return Err(error());
    };
    match args.args.first() {
        Some(syn::GenericArgument::Type(ok)) if args.args.len() == 2 => Ok(ok.clone()),
        _ => Err(error()),
    }
}
