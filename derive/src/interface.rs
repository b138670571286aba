//! `#[libsys::interface]`: from a trait, the operation enum, one request and one reply
//! message per method, the client (`NameClient`) and the server (`NameServer`).
//!
//! Everything about a method is checked here, before any code is generated, so that a
//! misuse gets one error at the offending token and says what to write instead; what only
//! the type checker knows (whether an argument is a message, how large a reply is) is
//! checked by the generated code, at compile time, with a message naming the method.
//! The wire format and the server loop live in `libsys::ipc::interface`.

use proc_macro2::{Span, TokenStream as Tokens};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Error, FnArg, GenericArgument, Ident, ItemTrait, Pat, PathArguments, ReturnType, TraitItem, Type};

/// Names the generated client has for itself: an operation cannot take them.
const CLIENT_METHODS: [&str; 3] = ["new", "with_timeout", "tid"];

/// How an argument travels.
enum Arg {
    /// In the request, by its own message encoding.
    Message { name: Ident, ty: Box<Type> },
    /// As the call's long message, moved (`Pages`).
    Move { name: Ident },
    /// As the call's long message, shared (`&SharedPages`, or `&mut SharedPages` for a
    /// server that writes into them).
    Share { name: Ident, mutable: bool },
    /// Not sent: the server fills in the calling thread (`Caller`), which the kernel
    /// vouches for, so a client cannot pretend to be another thread.
    Caller,
}

impl Arg {
    fn is_pages(&self) -> bool {
        matches!(self, Arg::Move { .. } | Arg::Share { .. })
    }
}

/// One method of the trait, checked.
struct Method {
    name: Ident,
    /// The operation's variant name (`read_at` -> `ReadAt`).
    variant: Ident,
    code: u8,
    args: Vec<Arg>,
    /// The value type (`()` when the method returns nothing).
    ok: Type,
    /// The method's own error type, if it returns `Result<T, E>`.
    err: Option<Type>,
    /// Where the return type is written, for the reply-size error.
    ret_span: Span,
    docs: Vec<syn::Attribute>,
}

impl Method {
    fn pages(&self) -> bool {
        self.args.iter().any(Arg::is_pages)
    }
}

pub fn expand(attr: Tokens, item: Tokens) -> syn::Result<Tokens> {
    if !attr.is_empty() {
        return Err(Error::new(attr.span(), "#[libsys::interface] takes no arguments"));
    }
    let mut tr: ItemTrait = syn::parse2(item).map_err(|e| {
        Error::new(e.span(), "#[libsys::interface] goes on a trait: `trait Name { fn op(&mut self, ...) -> T; }`")
    })?;
    if !tr.generics.params.is_empty() || tr.generics.where_clause.is_some() {
        return Err(Error::new(
            tr.generics.span(),
            "an interface cannot be generic: its requests and replies must be fixed types, known to both sides",
        ));
    }
    let mut methods: Vec<Method> = Vec::new();
    for item in &tr.items {
        let TraitItem::Fn(f) = item else {
            return Err(Error::new(
                item.span(),
                "an interface trait holds only methods (`fn op(&mut self, ...) -> T;`): each one is an operation",
            ));
        };
        let m = method(f, methods.len())?;
        if let Some(other) = methods.iter().find(|o| o.name == m.name || o.variant == m.variant) {
            let why = if other.name == m.name {
                format!("duplicate method `{}`: every operation of an interface needs its own name", m.name)
            } else {
                format!("methods `{}` and `{}` would both be operation `{}`: rename one", other.name, m.name, m.variant)
            };
            return Err(Error::new(m.name.span(), why));
        }
        methods.push(m);
    }
    let pages = methods.iter().any(Method::pages);
    if pages {
        // The server's one declaration of where received pages go.
        tr.items.push(syn::parse_quote! {
            /// Where pages sent to this server are mapped: unmapped, page-aligned space in the
            /// program's region, large enough for the most pages one call brings (a call
            /// with more fails for its caller with `TooLong`). The same window serves every
            /// call, so the pages a method receives must be dropped (unmapped) by the time it
            /// returns; moved pages it keeps make the next receive fail with `WindowOccupied`.
            const RECEIVE_WINDOW: ::libsys::ipc::Window;
        });
    }
    Ok(generate(&tr, &methods, pages))
}

/// `read_at` -> `ReadAt`.
fn camel(name: &str) -> String {
    name.trim_start_matches("r#")
        .split('_')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect()
}

fn method(f: &syn::TraitItemFn, index: usize) -> syn::Result<Method> {
    let sig = &f.sig;
    let name = sig.ident.clone();
    if let Some(t) = &sig.asyncness {
        return Err(Error::new(
            t.span(),
            "an interface method cannot be `async`: the server runs it to completion and replies",
        ));
    }
    if let Some(t) = &sig.constness {
        return Err(Error::new(t.span(), "an interface method cannot be `const`"));
    }
    if let Some(t) = &sig.unsafety {
        return Err(Error::new(
            t.span(),
            "an interface method cannot be `unsafe`: a client in another program cannot uphold its preconditions",
        ));
    }
    if let Some(t) = &sig.abi {
        return Err(Error::new(t.span(), "an interface method cannot have an `extern` ABI"));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(Error::new(
            sig.generics.span(),
            format!("interface method `{name}` cannot be generic: each operation's request and reply are fixed message types"),
        ));
    }
    if let Some(v) = &sig.variadic {
        return Err(Error::new(v.span(), "an interface method cannot be variadic"));
    }
    if CLIENT_METHODS.contains(&name.to_string().as_str()) {
        return Err(Error::new(
            name.span(),
            format!("an operation cannot be named `{name}`: the generated client has a method of that name (`new`, `with_timeout`, `tid`)"),
        ));
    }
    if index >= u8::MAX as usize {
        return Err(Error::new(
            name.span(),
            "an interface has at most 254 operations (one byte numbers them, 0 is none)",
        ));
    }
    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_some() && r.colon_token.is_none() => {}
        other => {
            let span = other.map_or(sig.span(), |o| o.span());
            return Err(Error::new(
                span,
                format!(
                    "interface method `{name}` must take `&mut self`: the server runs every operation on its own state, one call at a time"
                ),
            ));
        }
    }
    let mut args = Vec::new();
    for input in inputs {
        let FnArg::Typed(pt) = input else {
            // A `self` after the first argument; rustc rejects it too, but say so here.
            return Err(Error::new(input.span(), "`self` can only be the first argument"));
        };
        let arg_name = match &*pt.pat {
            Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() => pi.ident.clone(),
            p => return Err(Error::new(
                p.span(),
                "an interface method's arguments are plain names (`count: u32`): each becomes a field of the request",
            )),
        };
        let a = argument(&name, arg_name, &pt.ty)?;
        if matches!(a, Arg::Caller) && args.iter().any(|a| matches!(a, Arg::Caller)) {
            return Err(Error::new(
                pt.ty.span(),
                format!("interface method `{name}` takes the `Caller` twice: one argument says who called"),
            ));
        }
        if a.is_pages() && args.iter().any(Arg::is_pages) {
            return Err(Error::new(
                pt.ty.span(),
                format!("interface method `{name}` takes pages twice: a call carries one range of pages (one `Pages` or one `&SharedPages` argument)"),
            ));
        }
        args.push(a);
    }
    let (ok, err, ret_span) = match &sig.output {
        ReturnType::Default => (syn::parse_quote!(()), None, sig.span()),
        ReturnType::Type(_, ty) => {
            check_value_type(ty, "returned")?;
            match result_types(ty) {
                Some((t, e)) => {
                    check_value_type(&t, "returned")?;
                    check_value_type(&e, "returned")?;
                    (t, Some(e), ty.span())
                }
                None => ((**ty).clone(), None, ty.span()),
            }
        }
    };
    let variant = format_ident!("{}", camel(&name.to_string()), span = name.span());
    let docs = f.attrs.iter().filter(|a| a.path().is_ident("doc")).cloned().collect();
    Ok(Method { name, variant, code: index as u8 + 1, args, ok, err, ret_span, docs })
}

/// `Result<T, E>` -> `(T, E)`.
fn result_types(ty: &Type) -> Option<(Type, Type)> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let PathArguments::AngleBracketed(a) = &last.arguments else { return None };
    let mut types = a.args.iter().filter_map(|g| match g {
        GenericArgument::Type(t) => Some(t.clone()),
        _ => None,
    });
    match (types.next(), types.next(), types.next()) {
        (Some(t), Some(e), None) => Some((t, e)),
        _ => None,
    }
}

fn last_ident(ty: &Type) -> Option<&Ident> {
    match ty {
        Type::Path(p) if p.qself.is_none() => {
            let last = p.path.segments.last()?;
            matches!(last.arguments, PathArguments::None).then_some(&last.ident)
        }
        Type::Paren(p) => last_ident(&p.elem),
        Type::Group(g) => last_ident(&g.elem),
        _ => None,
    }
}

/// What cannot cross to another program whatever it is: references, pointers, `impl`.
fn check_value_type(ty: &Type, what: &str) -> syn::Result<()> {
    match ty {
        Type::Reference(_) => Err(Error::new(
            ty.span(),
            format!("a value {what} through an interface cannot be a reference: it is copied into another address space, where it would dangle. Use the value itself (a message)"),
        )),
        Type::Ptr(_) => Err(Error::new(
            ty.span(),
            format!("a value {what} through an interface cannot be a raw pointer: it would mean nothing in the other address space"),
        )),
        Type::ImplTrait(_) => Err(Error::new(
            ty.span(),
            format!("a value {what} through an interface cannot be `impl Trait`: it must be one fixed message type"),
        )),
        Type::TraitObject(_) => Err(Error::new(
            ty.span(),
            format!("a value {what} through an interface cannot be a trait object: it must be one fixed message type"),
        )),
        _ => Ok(()),
    }
}

fn argument(method: &Ident, name: Ident, ty: &Type) -> syn::Result<Arg> {
    if last_ident(ty).is_some_and(|i| i == "Pages") {
        return Ok(Arg::Move { name });
    }
    if last_ident(ty).is_some_and(|i| i == "Caller") {
        return Ok(Arg::Caller);
    }
    if let Type::Reference(r) = ty {
        if last_ident(&r.elem).is_some_and(|i| i == "SharedPages") {
            return Ok(Arg::Share { name, mutable: r.mutability.is_some() });
        }
        if last_ident(&r.elem).is_some_and(|i| i == "Pages") {
            return Err(Error::new(
                ty.span(),
                format!("`{method}`: pages are moved as `Pages` (by value) or shared as `&SharedPages`; `&Pages` is neither"),
            ));
        }
        return Err(Error::new(
            ty.span(),
            format!(
                "`{method}`: an interface argument cannot be a reference: arguments are copied into the server's address space. \
                 Pass the value (a message), or pages as `Pages` (moved) or `&SharedPages` (shared)"
            ),
        ));
    }
    check_value_type(ty, "passed")?;
    Ok(Arg::Message { name, ty: Box::new(ty.clone()) })
}

fn generate(tr: &ItemTrait, methods: &[Method], pages: bool) -> Tokens {
    let vis = &tr.vis;
    let trait_name = &tr.ident;
    let op_enum = format_ident!("{}Op", trait_name);
    let client = format_ident!("{}Client", trait_name);
    let server = format_ident!("{}Server", trait_name);
    let ipc = quote!(::libsys::ipc);
    let rt = quote!(::libsys::ipc::interface);
    let msg = quote!(::libsys::abi::message::Message);

    let variants = methods.iter().map(|m| {
        let (v, c) = (&m.variant, m.code);
        let doc = format!("`{trait_name}::{}`.", m.name);
        quote!(#[doc = #doc] #v = #c,)
    });
    let from_code = methods.iter().map(|m| {
        let (v, c) = (&m.variant, m.code);
        quote!(#c => ::core::option::Option::Some(#op_enum::#v),)
    });
    let op_doc = format!("The operations of `{trait_name}`: the first byte of every request.");

    let mut items = Vec::new();
    let mut client_methods = Vec::new();
    let mut arms = Vec::new();
    let mut request_sizes = Vec::new();
    let mut reply_sizes = Vec::new();
    for m in methods {
        let (name, variant) = (&m.name, &m.variant);
        let request = format_ident!("{}{}Request", trait_name, variant);
        let reply = format_ident!("{}{}Reply", trait_name, variant);
        let ok = &m.ok;
        let err = m.err.as_ref().map_or_else(|| quote!(#rt::NoError), |e| quote!(#e));
        let fields: Vec<(&Ident, &Type)> = m
            .args
            .iter()
            .filter_map(|a| match a {
                Arg::Message { name, ty } => Some((name, &**ty)),
                _ => None,
            })
            .collect();
        let field_decls = fields.iter().map(|(n, t)| quote!(pub #n: #t,));
        let field_msgs: Vec<Tokens> = fields.iter().map(|(_, t)| quote_spanned!(t.span()=> <#t as #msg>)).collect();
        let encode = fields.iter().zip(&field_msgs).map(|((n, _), ty)| {
            quote! {
                #ty::encode_into(&self.#n, &mut out[at..]);
                at += #ty::SIZE;
            }
        });
        let decode = fields.iter().zip(&field_msgs).map(|((n, _), ty)| {
            quote! {
                let #n = #ty::decode(&bytes[at..]).map_err(|e| e.at(at))?;
                at += #ty::SIZE;
            }
        });
        let names: Vec<&Ident> = fields.iter().map(|(n, _)| *n).collect();
        let request_doc = format!("The request of `{trait_name}::{name}`: operation `{op_enum}::{variant}`, then the arguments (pages travel beside it).");
        let reply_doc = format!("The reply of `{trait_name}::{name}`.");
        let name_str = name.to_string();
        let req_too_large = format!(
            "the request of `{trait_name}::{name_str}` is larger than abi::SHORT_MAX (4096 bytes): send bulk data as pages (a `Pages` or `&SharedPages` argument)"
        );
        let reply_too_large = format!(
            "the reply of `{trait_name}::{name_str}` is larger than abi::SHORT_MAX (4096 bytes): let the client share pages (`&SharedPages`) for the server to fill instead"
        );
        let ret_span = m.ret_span;
        let request_type_name = request.to_string();
        items.push(quote! {
            #[doc = #request_doc]
            #vis struct #request { #(#field_decls)* }

            impl #request {
                /// The operation this request asks for.
                pub const OP: #op_enum = #op_enum::#variant;
            }

            impl #msg for #request {
                const SIZE: usize = 1 #(+ #field_msgs::SIZE)*;
                type Reply = #reply;
                #[allow(unused_assignments, unused_mut, unused_variables)]
                fn encode_into(&self, out: &mut [u8]) {
                    out[0] = #op_enum::#variant as u8;
                    let mut at = 1usize;
                    #(#encode)*
                }
                #[allow(unused_assignments, unused_mut)]
                fn decode(bytes: &[u8]) -> ::core::result::Result<Self, ::libsys::abi::message::DecodeError> {
                    if bytes.len() < <Self as #msg>::SIZE {
                        return ::core::result::Result::Err(::libsys::abi::message::DecodeError::TooShort {
                            need: <Self as #msg>::SIZE,
                            got: bytes.len(),
                        });
                    }
                    if bytes[0] != #op_enum::#variant as u8 {
                        return ::core::result::Result::Err(::libsys::abi::message::DecodeError::Invalid {
                            type_name: #request_type_name,
                            offset: 0,
                        });
                    }
                    let mut at = 1usize;
                    #(#decode)*
                    ::core::result::Result::Ok(#request { #(#names),* })
                }
            }

            #[doc = #reply_doc]
            #vis type #reply = #rt::Reply<#ok, #err>;
        });
        // Separate items, spanned at the method and at its return type, so that the
        // errors point there.
        items.push(quote_spanned! {name.span()=>
            const _: () = {
                ::core::assert!(<#request as #msg>::SIZE <= ::libsys::abi::SHORT_MAX, #req_too_large);
            };
        });
        items.push(quote_spanned! {ret_span=>
            const _: () = {
                ::core::assert!(<#reply as #msg>::SIZE <= ::libsys::abi::SHORT_MAX, #reply_too_large);
            };
        });
        request_sizes.push(quote!(<#request as #msg>::SIZE));
        reply_sizes.push(quote!(<#reply as #msg>::SIZE));

        // Client.
        let params = m.args.iter().filter_map(|a| match a {
            Arg::Message { name, ty } => Some(quote!(#name: #ty)),
            Arg::Move { name } => Some(quote!(#name: #ipc::Pages)),
            Arg::Share { name, mutable: false } => Some(quote!(#name: &#ipc::SharedPages)),
            Arg::Share { name, mutable: true } => Some(quote!(#name: &mut #ipc::SharedPages)),
            Arg::Caller => None,
        });
        let build = quote!(#request { #(#names),* });
        let finish = if m.err.is_some() { quote!(into_result) } else { quote!(into_value) };
        let ret = match &m.err {
            Some(e) => quote!(::core::result::Result<::core::result::Result<#ok, #e>, #ipc::IpcError>),
            None => quote!(::core::result::Result<#ok, #ipc::IpcError>),
        };
        let page_arg = m.args.iter().find_map(|a| match a {
            Arg::Move { name } => {
                Some(quote!(#ipc::call_moving(self.tid, &#build, #name, self.timeout).map_err(|f| f.error)?))
            }
            Arg::Share { name, .. } => Some(quote!(#ipc::call_sharing(self.tid, &#build, #name, self.timeout)?)),
            Arg::Message { .. } | Arg::Caller => None,
        });
        let call = page_arg.unwrap_or_else(|| quote!(#ipc::call(self.tid, &#build, self.timeout)?));
        let docs = &m.docs;
        client_methods.push(quote! {
            #(#docs)*
            pub fn #name(&self, #(#params),*) -> #ret {
                #call.#finish()
            }
        });

        // Server.
        let code = m.code;
        let take_pages = match m.args.iter().find(|a| a.is_pages()) {
            Some(Arg::Move { name }) => quote! {
                let #ipc::Received::Moved(#name) = pages else {
                    return #rt::refuse(reply, #ipc::Refusal::BadRequest);
                };
            },
            Some(Arg::Share { name, mutable }) => {
                let mutability = if *mutable { quote!(mut) } else { quote!() };
                quote! {
                    let #ipc::Received::Shared(#mutability #name) = pages else {
                        return #rt::refuse(reply, #ipc::Refusal::BadRequest);
                    };
                }
            }
            _ => quote! {
                let #ipc::Received::None = pages else {
                    return #rt::refuse(reply, #ipc::Refusal::BadRequest);
                };
            },
        };
        let call_args = m.args.iter().map(|a| match a {
            Arg::Message { name, .. } => quote!(request.#name),
            Arg::Move { name } => quote!(#name),
            Arg::Share { name, mutable: false } => quote!(&#name),
            Arg::Share { name, mutable: true } => quote!(&mut #name),
            Arg::Caller => quote!(caller),
        });
        let wrap = if m.err.is_some() { quote!(#reply::from_result(out)) } else { quote!(#reply::Ok(out)) };
        arms.push(quote! {
            #code => {
                let ::core::result::Result::Ok(request) = <#request as #msg>::decode(bytes) else {
                    return #rt::refuse(reply, #ipc::Refusal::BadRequest);
                };
                #take_pages
                let out = server.#name(#(#call_args),*);
                #rt::encode(reply, &#wrap)
            }
        });
    }

    let client_doc = format!(
        "A client of `{trait_name}`: one method per operation, each a call to the server thread \
         (waiting up to the client's timeout, `Forever` unless set with `with_timeout`)."
    );
    let server_doc =
        format!("The server side of `{trait_name}`: receives calls and runs them on an `impl {trait_name}`.");
    let window = if pages { quote!(<S as #trait_name>::RECEIVE_WINDOW) } else { quote!(#ipc::Window::NONE) };
    let request_max = request_sizes.iter().fold(quote!(0usize), |acc, s| quote!(#rt::max(#acc, #s)));
    let reply_max = reply_sizes.iter().fold(quote!(0usize), |acc, s| quote!(#rt::max(#acc, #s)));

    quote! {
        #tr

        #[doc = #op_doc]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(u8)]
        #vis enum #op_enum {
            #(#variants)*
        }

        impl #op_enum {
            /// The operation numbered `code`, if any.
            pub const fn from_code(code: u8) -> ::core::option::Option<#op_enum> {
                match code {
                    #(#from_code)*
                    _ => ::core::option::Option::None,
                }
            }
        }

        #(#items)*

        #[doc = #client_doc]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #vis struct #client {
            tid: u32,
            timeout: #ipc::Timeout,
        }

        impl #client {
            /// A client of the server thread `tid`, waiting for every answer as long as it takes.
            pub const fn new(tid: u32) -> #client {
                #client { tid, timeout: #ipc::Timeout::Forever }
            }

            /// The same client, giving up on a call (rendezvous and reply together) after
            /// `timeout`; the call then fails with `IpcError::Sys(Error::Timeout)`.
            pub const fn with_timeout(self, timeout: #ipc::Timeout) -> #client {
                #client { tid: self.tid, timeout }
            }

            /// The server thread this client calls.
            pub const fn tid(&self) -> u32 {
                self.tid
            }

            #(#client_methods)*
        }

        #[doc = #server_doc]
        #vis struct #server;

        impl #server {
            /// What the server loop needs to know: the largest request and reply, and
            /// whether pages come.
            pub const SHAPE: #rt::Shape =
                #rt::Shape { request_max: #request_max, reply_max: #reply_max, pages: #pages };

            /// Runs the request in `bytes` (with the pages that came with it) on `server`,
            /// writes the reply into `reply` (at least `abi::SHORT_MAX` bytes) and returns its
            /// length. A request that names no operation or does not decode, or whose pages
            /// are not what its operation takes, gets a refusal; the pages are dropped.
            /// `handle_one` and `serve` call it; it needs no system call, so tests can too.
            #[allow(unused_variables)] // `caller`, when no method asks for it
            pub fn dispatch<S: #trait_name>(
                server: &mut S,
                caller: #ipc::Caller,
                bytes: &[u8],
                pages: #ipc::Received,
                reply: &mut [u8],
            ) -> usize {
                let ::core::option::Option::Some(&code) = bytes.first() else {
                    return #rt::refuse(reply, #ipc::Refusal::BadRequest);
                };
                match code {
                    #(#arms)*
                    _ => #rt::refuse(reply, #ipc::Refusal::UnknownOperation),
                }
            }

            /// Receives one call (waiting up to `timeout`), runs it on `server` and replies.
            /// Fails if nothing could be received, or if the reply did not reach its caller
            /// (it had given up or died); a message that is not a call is dropped.
            pub fn handle_one<S: #trait_name>(
                server: &mut S,
                timeout: #ipc::Timeout,
            ) -> ::core::result::Result<(), #ipc::IpcError> {
                #rt::handle_one(Self::SHAPE, #window, timeout, |caller, bytes, pages, reply| {
                    Self::dispatch(server, caller, bytes, pages, reply)
                })
            }

            /// Answers calls on `server` for ever; returns only when receiving fails (a reply
            /// that does not reach its caller ends nothing), with that error.
            pub fn serve<S: #trait_name>(server: &mut S) -> #ipc::IpcError {
                #rt::serve(Self::SHAPE, #window, |caller, bytes, pages, reply| {
                    Self::dispatch(server, caller, bytes, pages, reply)
                })
            }
        }
    }
}
