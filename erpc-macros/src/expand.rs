//! The code `#[erpc::service]` generates: the rewritten trait, the server and the client.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::{Ident, Type};

use crate::model::{Kind, Method, Service};

pub fn expand(service: &Service) -> TokenStream {
    let the_trait = expand_trait(service);
    let server = expand_server(service);
    let client = expand_client(service);
    let mock = crate::mock::expand_mock(service);
    quote! {
        #the_trait
        #server
        #client
        #mock
    }
}

/// The request type: `()` for no argument, the argument's type for one, a tuple for more.
pub(crate) fn request_type(method: &Method) -> TokenStream {
    let types: Vec<&Type> = method.args.iter().map(|(_, ty)| ty).collect();
    match types.as_slice() {
        [] => quote!(()),
        [one] => quote!(#one),
        many => quote!((#(#many),*)),
    }
}

/// The request value (client side) or pattern (server side), matching [`request_type`].
fn request_value(method: &Method) -> TokenStream {
    let names: Vec<&Ident> = method.args.iter().map(|(name, _)| name).collect();
    match names.as_slice() {
        [] => quote!(()),
        [one] => quote!(#one),
        many => quote!((#(#many),*)),
    }
}

fn expand_trait(service: &Service) -> TokenStream {
    let krate = &service.krate;
    let item = &service.item;
    let attrs = &item.attrs;
    let vis = &item.vis;
    let ident = &item.ident;
    let supertraits = &item.supertraits;
    let plus = if supertraits.is_empty() {
        quote!()
    } else {
        quote!(+)
    };
    let methods = service.methods.iter().map(|m| {
        let attrs = &m.attrs;
        let name = &m.ident;
        let inputs = &m.sig.inputs;
        let output = match &m.kind {
            Kind::Unary { output, .. } | Kind::Stream { output, .. } => quote!(#output),
            Kind::Oneway => quote!(()),
        };
        let signature = quote! {
            fn #name(#inputs) -> impl #krate::__private::Future<Output = #output> + ::core::marker::Send
        };
        match &m.default_body {
            Some(body) => quote! { #(#attrs)* #signature { async move #body } },
            None => quote! { #(#attrs)* #signature; },
        }
    });
    quote! {
        #(#attrs)*
        #vis trait #ident: ::core::marker::Send + ::core::marker::Sync + 'static #plus #supertraits {
            #(#methods)*
        }
    }
}

fn expand_server(service: &Service) -> TokenStream {
    let krate = &service.krate;
    let vis = &service.item.vis;
    let trait_ident = &service.item.ident;
    let server = format_ident!("{}Server", trait_ident);
    let name = &service.name;
    let method_names = service.method_names();
    let identity = service_identity(service);
    let indices: Vec<usize> = (0..service.methods.len()).collect();
    let arms = service.methods.iter().map(|m| {
        if matches!(m.kind, Kind::Stream { .. }) {
            let method = m.ident.to_string();
            return quote! {{
                let status = #krate::__private::wrong_shape(#name, #method, true);
                ::std::boxed::Box::pin(async move { ::core::result::Result::Err(status) })
            }};
        }
        let method = &m.ident;
        let req_ty = request_type(m);
        let pattern = request_value(m);
        let args: Vec<&Ident> = m.args.iter().map(|(name, _)| name).collect();
        let (cx_param, call) = if m.takes_context {
            (quote!(__erpc_cx), quote!(self.inner.#method(__erpc_cx, #(#args),*)))
        } else {
            (quote!(_), quote!(self.inner.#method(#(#args),*)))
        };
        let helper = match m.kind {
            Kind::Unary { .. } | Kind::Stream { .. } => quote!(#krate::__private::unary),
            Kind::Oneway => quote!(#krate::__private::oneway),
        };
        quote! {
            ::std::boxed::Box::pin(#helper(request, move |#cx_param: #krate::Context, #pattern: #req_ty| #call))
        }
    });
    let stream_arms = service.methods.iter().map(|m| {
        let method = &m.ident;
        let Kind::Stream { input, output_item, .. } = &m.kind else {
            let method = m.ident.to_string();
            return quote! {{
                let status = #krate::__private::wrong_shape(#name, #method, false);
                ::std::boxed::Box::pin(async move { ::core::result::Result::Err(status) })
            }};
        };
        let args: Vec<&Ident> = m.args.iter().map(|(name, _)| name).collect();
        let (cx_param, call) = if m.takes_context {
            (quote!(__erpc_cx), quote!(self.inner.#method(__erpc_cx, #(#args),*)))
        } else {
            (quote!(_), quote!(self.inner.#method(#(#args),*)))
        };
        let (helper, param) = match (input, output_item) {
            (Some(input), Some(_)) => {
                let arg = args[0];
                (quote!(#krate::__private::bidi_streaming), quote!(#arg: #krate::Streaming<#input>))
            }
            (Some(input), None) => {
                let arg = args[0];
                (quote!(#krate::__private::client_streaming), quote!(#arg: #krate::Streaming<#input>))
            }
            (None, _) => {
                let req_ty = request_type(m);
                let pattern = request_value(m);
                (quote!(#krate::__private::server_streaming), quote!(#pattern: #req_ty))
            }
        };
        quote! {
            ::std::boxed::Box::pin(#helper(request, move |#cx_param: #krate::Context, #param| #call))
        }
    });
    let doc = format!(
        "Serves a [`{trait_ident}`] implementation as the erpc service `{name}`: add it to a server with `Server::builder().add_service({server}::new(my_impl))`."
    );
    quote! {
        #[doc = #doc]
        #[derive(Debug, Clone)]
        #vis struct #server<__ErpcImpl> {
            inner: __ErpcImpl,
        }

        impl<__ErpcImpl: #trait_ident> #server<__ErpcImpl> {
            /// Wrap an implementation of the service trait.
            pub fn new(inner: __ErpcImpl) -> Self {
                Self { inner }
            }

            /// The wrapped implementation.
            pub fn inner(&self) -> &__ErpcImpl {
                &self.inner
            }
        }

        impl<__ErpcImpl: #trait_ident> #krate::Service for #server<__ErpcImpl> {
            #identity

            fn call(
                &self,
                request: #krate::Request,
            ) -> #krate::__private::BoxFuture<'_, ::core::result::Result<#krate::Response, #krate::Status>> {
                let index = match request.method() {
                    #(#method_names => #indices,)*
                    _ => usize::MAX,
                };
                match index {
                    #(#indices => #arms,)*
                    _ => {
                        let status = #krate::__private::unknown_method(#name, request.method());
                        ::std::boxed::Box::pin(async move { ::core::result::Result::Err(status) })
                    }
                }
            }

            fn stream(
                &self,
                request: #krate::StreamRequest,
            ) -> #krate::__private::BoxFuture<'_, ::core::result::Result<#krate::stream::ResponseStream, #krate::Status>> {
                let index = match request.method() {
                    #(#method_names => #indices,)*
                    _ => usize::MAX,
                };
                match index {
                    #(#indices => #stream_arms,)*
                    _ => {
                        let status = #krate::__private::unknown_method(#name, request.method());
                        ::std::boxed::Box::pin(async move { ::core::result::Result::Err(status) })
                    }
                }
            }
        }
    }
}

/// The `name` and `methods` of a generated `Service` impl (the server's and the mock's).
pub(crate) fn service_identity(service: &Service) -> TokenStream {
    let name = &service.name;
    let method_names = service.method_names();
    let descriptor = service_descriptor(service);
    quote! {
        fn name(&self) -> &str {
            #name
        }

        fn methods(&self) -> &[&'static str] {
            &[#(#method_names),*]
        }

        #descriptor
    }
}

/// `Service::descriptor`: a static description of the service for reflection (call kinds,
/// idempotency, the types as written, and their JSON Schemas where the facade's `schema`
/// feature is on and the types derive `schemars::JsonSchema`).
fn service_descriptor(service: &Service) -> TokenStream {
    let krate = &service.krate;
    let name = &service.name;
    let methods = service.methods.iter().map(|m| {
        let method = m.ident.to_string();
        let idempotent = m.idempotent;
        let request = request_type(m);
        let unit = quote!(());
        let (kind, argument, result) = match &m.kind {
            Kind::Unary { ok, .. } => (quote!(Unary), request, quote!(#ok)),
            Kind::Oneway => (quote!(Oneway), request, unit),
            Kind::Stream {
                input,
                output_item,
                ok,
                ..
            } => match (input, output_item) {
                (Some(input), Some(item)) => (quote!(BidiStream), quote!(#input), quote!(#item)),
                (Some(input), None) => (quote!(ClientStream), quote!(#input), quote!(#ok)),
                (None, Some(item)) => (quote!(ServerStream), request, quote!(#item)),
                (None, None) => (quote!(Unary), request, quote!(#ok)),
            },
        };
        let ty = |ty: &TokenStream| {
            let written = type_name(ty);
            quote! {
                #krate::__private::TypeDescriptor {
                    name: #written,
                    schema: || {
                        #[allow(unused_imports)]
                        use #krate::__private::{NoSchema as _, WithSchema as _};
                        (&&#krate::__private::SchemaProbe::<#ty>::NEW).schema()
                    },
                }
            }
        };
        let (argument, result) = (ty(&argument), ty(&result));
        quote! {
            #krate::__private::MethodDescriptor {
                name: #method,
                kind: #krate::__private::MethodKind::#kind,
                idempotent: #idempotent,
                argument: #argument,
                result: #result,
            }
        }
    });
    quote! {
        fn descriptor(&self) -> ::core::option::Option<&'static #krate::__private::ServiceDescriptor> {
            static DESCRIPTOR: #krate::__private::ServiceDescriptor = #krate::__private::ServiceDescriptor {
                name: #name,
                methods: &[#(#methods),*],
            };
            ::core::option::Option::Some(&DESCRIPTOR)
        }
    }
}

/// A type as written, without the spaces token printing puts around punctuation.
fn type_name(ty: &TokenStream) -> String {
    let mut out = ty.to_string();
    for (from, to) in [
        (" :: ", "::"),
        (":: ", "::"),
        (" < ", "<"),
        ("< ", "<"),
        (" >", ">"),
        (" ,", ","),
        ("( ", "("),
        (" )", ")"),
        ("& ", "&"),
    ] {
        out = out.replace(from, to);
    }
    out
}

fn expand_client(service: &Service) -> TokenStream {
    let krate = &service.krate;
    let vis = &service.item.vis;
    let trait_ident = &service.item.ident;
    let client = format_ident!("{}Client", trait_ident);
    let name = &service.name;
    let method_names = service.method_names();
    let methods = service.methods.iter().map(|m| {
        let method = &m.ident;
        let method_name = method.to_string();
        let docs = m.attrs.iter().filter(|a| a.path().is_ident("doc"));
        let params = m.args.iter().map(|(name, ty)| quote!(#name: #ty));
        let req_ty = request_type(m);
        let req = request_value(m);
        match &m.kind {
            Kind::Unary { ok, .. } if m.idempotent => quote! {
                #(#docs)*
                ///
                /// Idempotent (`#[idempotent]`): a fail mode may resend this call.
                pub fn #method(&self, #(#params),*) -> #krate::Call<#req_ty, #ok> {
                    self.client.call(#name, #method_name, #req).options(self.options.clone()).idempotent()
                }
            },
            Kind::Unary { ok, .. } => quote! {
                #(#docs)*
                pub fn #method(&self, #(#params),*) -> #krate::Call<#req_ty, #ok> {
                    self.client.call(#name, #method_name, #req).options(self.options.clone())
                }
            },
            Kind::Oneway => quote! {
                #(#docs)*
                pub fn #method(&self, #(#params),*) -> #krate::Oneway<#req_ty> {
                    self.client.oneway(#name, #method_name, #req).options(self.options.clone())
                }
            },
            Kind::Stream { input: None, output_item: Some(item), .. } => quote! {
                #(#docs)*
                pub fn #method(&self, #(#params),*) -> #krate::client::StreamCall<#req_ty, #item> {
                    self.client.server_stream(#name, #method_name, #req).options(self.options.clone())
                }
            },
            Kind::Stream { input: Some(input), output_item, ok, .. } => {
                let arg = &m.args[0].0;
                let param = quote!(#arg: impl #krate::__private::Stream<Item = #input> + ::core::marker::Send + 'static);
                match output_item {
                    Some(item) => quote! {
                        #(#docs)*
                        pub fn #method(&self, #param) -> #krate::client::StreamCall<#input, #item> {
                            self.client.bidi_stream(#name, #method_name, #arg).options(self.options.clone())
                        }
                    },
                    None => quote! {
                        #(#docs)*
                        pub fn #method(&self, #param) -> #krate::client::ClientStreamCall<#input, #ok> {
                            self.client.client_stream(#name, #method_name, #arg).options(self.options.clone())
                        }
                    },
                }
            }
            Kind::Stream { input: None, output_item: None, .. } => {
                unreachable!("a method without a stream is unary")
            }
        }
    });
    let doc = format!(
        "A typed client of the erpc service `{name}` ([`{trait_ident}`]). Each method returns a call to `.await`, after optional per-call settings such as `.timeout(d)`, `.metadata(k, v)` or `.codec(id)`."
    );
    quote! {
        #[doc = #doc]
        #[derive(Debug, Clone)]
        #vis struct #client {
            client: #krate::Client,
            options: #krate::CallOptions,
        }

        impl #client {
            /// The name the service is called by.
            pub const SERVICE: &'static str = #name;

            /// The service's methods, in declaration order (what per-method settings of
            /// this service may name: erpc-config checks a client's keys against them).
            pub const METHODS: &'static [&'static str] = &[#(#method_names),*];

            /// A typed client over an existing (shared) client.
            pub fn new(client: #krate::Client) -> Self {
                Self { client, options: #krate::CallOptions::default() }
            }

            /// Connect to `addr` with default settings.
            pub async fn connect<__ErpcAddr>(addr: __ErpcAddr) -> ::core::result::Result<Self, #krate::Status>
            where
                __ErpcAddr: #krate::IntoAddress,
            {
                #krate::Client::connect(addr).await.map(Self::new)
            }

            /// Options applied to every call made through this handle.
            pub fn with_options(mut self, options: #krate::CallOptions) -> Self {
                self.options = options;
                self
            }

            /// The underlying untyped client.
            pub fn client(&self) -> &#krate::Client {
                &self.client
            }

            #(#methods)*
        }

        impl #krate::client::TypedClient for #client {
            const SERVICE: ::core::option::Option<&'static str> = ::core::option::Option::Some(#name);
            const METHODS: &'static [&'static str] = Self::METHODS;
            fn from_client(client: #krate::Client) -> Self {
                Self::new(client)
            }
        }
    }
}
