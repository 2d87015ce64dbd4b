//! The mock `#[erpc::service]` generates for a trait: `MockGreeter` for `trait Greeter`, a
//! service built from one closure per method that records every call (the runtime is
//! `erpc::mock`). Generated for every trait without supertraits (a mock cannot implement
//! those); unused, it costs nothing but compile time.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::expand::{request_type, service_identity};
use crate::model::{Kind, Method, Service};

pub fn expand_mock(service: &Service) -> TokenStream {
    if !service.item.supertraits.is_empty() {
        return quote!();
    }
    let krate = &service.krate;
    let vis = &service.item.vis;
    let trait_ident = &service.item.ident;
    let mock = format_ident!("Mock{}", trait_ident);
    let server = format_ident!("{}Server", trait_ident);
    let name = &service.name;
    let identity = service_identity(service);
    let slot = |m: &Method| format_ident!("__{}", m.ident);
    let fields = service.methods.iter().map(|m| {
        let slot = slot(m);
        let handler = handler_type(m);
        quote!(#slot: ::std::sync::Arc<::std::sync::RwLock<::core::option::Option<::std::sync::Arc<#handler>>>>)
    });
    let inits = service.methods.iter().map(|m| {
        let slot = slot(m);
        quote!(#slot: ::core::default::Default::default())
    });
    let builders = service.methods.iter().map(builder);
    let trait_methods = service.methods.iter().map(|m| trait_method(service, m));
    let doc = format!(
        "A mock [`{trait_ident}`] for tests: one closure per method (`.method(|args| ...)`), every call recorded (see [`{krate}::mock::Recorder`]), expectations checked by `.recorder().verify()`. Serve it with `erpc::testing::pair` or `Server::builder().add_service(mock.clone())`; a method without a closure answers `unimplemented`.",
        krate = quote!(#krate).to_string().replace(' ', "")
    );
    quote! {
        #[doc = #doc]
        #[derive(Clone)]
        #[allow(dead_code)]
        #vis struct #mock {
            recorder: #krate::mock::Recorder,
            #(#fields,)*
        }

        impl ::core::default::Default for #mock {
            fn default() -> Self {
                Self::new()
            }
        }

        impl ::core::fmt::Debug for #mock {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.debug_struct(::core::stringify!(#mock)).field("recorder", &self.recorder).finish_non_exhaustive()
            }
        }

        #[allow(dead_code)]
        impl #mock {
            /// A mock with no closures and no expectations.
            pub fn new() -> Self {
                Self { recorder: #krate::mock::Recorder::new(#name), #(#inits,)* }
            }

            /// The calls it received and its expectations (shared by every clone).
            pub fn recorder(&self) -> &#krate::mock::Recorder {
                &self.recorder
            }

            #(#builders)*
        }

        impl #trait_ident for #mock {
            #(#trait_methods)*
        }

        impl #krate::Service for #mock {
            #identity

            fn call(
                &self,
                request: #krate::Request,
            ) -> #krate::__private::BoxFuture<'_, ::core::result::Result<#krate::Response, #krate::Status>> {
                self.recorder.record(&request);
                let server = #server::new(self.clone());
                ::std::boxed::Box::pin(async move { #krate::Service::call(&server, request).await })
            }

            fn stream(
                &self,
                request: #krate::StreamRequest,
            ) -> #krate::__private::BoxFuture<'_, ::core::result::Result<#krate::stream::ResponseStream, #krate::Status>> {
                self.recorder.record_stream(&request);
                let server = #server::new(self.clone());
                ::std::boxed::Box::pin(async move { #krate::Service::stream(&server, request).await })
            }
        }
    }
}

/// The closure type of a method: its arguments (without the `Context`) to its output.
fn handler_type(m: &Method) -> TokenStream {
    let types = m.args.iter().map(|(_, ty)| ty);
    match &m.kind {
        Kind::Oneway => quote!(dyn Fn(#(#types),*) + ::core::marker::Send + ::core::marker::Sync),
        Kind::Unary { output, .. } | Kind::Stream { output, .. } => {
            quote!(dyn Fn(#(#types),*) -> #output + ::core::marker::Send + ::core::marker::Sync)
        }
    }
}

/// `.method(closure)`, `.expect_method(n)` and, for calls whose arguments are recorded,
/// `.method_calls()`.
fn builder(m: &Method) -> TokenStream {
    let method = &m.ident;
    let method_name = method.to_string();
    let slot = format_ident!("__{}", m.ident);
    let expect = format_ident!("expect_{}", m.ident);
    let calls = format_ident!("{}_calls", m.ident);
    let types = m.args.iter().map(|(_, ty)| ty);
    let bound = match &m.kind {
        Kind::Oneway => quote!(Fn(#(#types),*)),
        Kind::Unary { output, .. } | Kind::Stream { output, .. } => {
            quote!(Fn(#(#types),*) -> #output)
        }
    };
    let set_doc = format!(
        "Answer `{method_name}` with `handler` (called with the method's arguments, without the `Context`)."
    );
    let expect_doc = format!(
        "Expect `{method_name}` to be called exactly `times` times by `.recorder().verify()`."
    );
    let recorded = match &m.kind {
        Kind::Unary { .. } | Kind::Oneway => {
            let req_ty = request_type(m);
            let calls_doc = format!(
                "The arguments of every `{method_name}` call so far, in order (a tuple for several arguments). Panics if one does not decode."
            );
            quote! {
                #[doc = #calls_doc]
                pub fn #calls(&self) -> ::std::vec::Vec<#req_ty> {
                    self.recorder.args_of::<#req_ty>(#method_name)
                }
            }
        }
        Kind::Stream { .. } => quote!(),
    };
    quote! {
        #[doc = #set_doc]
        pub fn #method<__ErpcHandler>(self, handler: __ErpcHandler) -> Self
        where
            __ErpcHandler: #bound + ::core::marker::Send + ::core::marker::Sync + 'static,
        {
            *self.#slot.write().unwrap_or_else(|p| p.into_inner()) =
                ::core::option::Option::Some(::std::sync::Arc::new(handler));
            self
        }

        #[doc = #expect_doc]
        pub fn #expect(self, times: usize) -> Self {
            self.recorder.expect_times(#method_name, times);
            self
        }

        #recorded
    }
}

/// The trait method of the mock: call the closure, or answer `unimplemented`.
fn trait_method(service: &Service, m: &Method) -> TokenStream {
    let krate = &service.krate;
    let method = &m.ident;
    let method_name = method.to_string();
    let slot = format_ident!("__{}", m.ident);
    let params = m.args.iter().map(|(name, ty)| quote!(#name: #ty));
    let args: Vec<_> = m.args.iter().map(|(name, _)| name).collect();
    let cx = m.takes_context.then(|| quote!(_: #krate::Context,));
    let output = match &m.kind {
        Kind::Unary { output, .. } | Kind::Stream { output, .. } => quote!(#output),
        Kind::Oneway => quote!(()),
    };
    let body = match &m.kind {
        Kind::Oneway => quote! {
            if let ::core::option::Option::Some(handler) = handler {
                handler(#(#args),*)
            }
        },
        _ => quote! {
            match handler {
                ::core::option::Option::Some(handler) => handler(#(#args),*),
                ::core::option::Option::None => ::core::result::Result::Err(
                    ::core::convert::Into::into(self.recorder.no_handler(#method_name)),
                ),
            }
        },
    };
    quote! {
        fn #method(&self, #cx #(#params),*) -> impl #krate::__private::Future<Output = #output> + ::core::marker::Send {
            let handler = self.#slot.read().unwrap_or_else(|p| p.into_inner()).clone();
            let outcome = { #body };
            async move { outcome }
        }
    }
}
