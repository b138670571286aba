//! `#[derive(Message)]`: the codec of a typed Moroso IPC message (`abi::message::Message`);
//! and `#[interface]` (module `interface`, documented where libsys re-exports it as
//! `libsys::interface`): a trait becomes an IPC service, client and server.
//!
//! ```ignore
//! use libsys::Message;
//!
//! #[derive(Message)]
//! #[repr(C)]
//! #[message(reply = Pong)]
//! struct Ping { seq: u32, payload: [u8; 12] }
//!
//! #[derive(Message)]
//! #[repr(C)]
//! struct Pong { seq: u32, ok: bool, pad: [u8; 3] }
//! ```
//!
//! For a `#[repr(C)]` struct the encoding is its fields in order, each by its own codec; for
//! a `#[repr(u8|u16|u32|u64)]` enum without fields, the discriminant. Decoding checks every
//! field and every tag. What cannot be a message is refused at compile time, with what to
//! change: references and raw pointers (a message is copied into another address space),
//! generics, a missing `repr`, enums with fields, padding (the in-memory layout must be the
//! encoding; the error names the field and the byte count), fields that are not messages,
//! and messages larger than `abi::SHORT_MAX`.
//!
//! Generated code names the `abi` crate as `::libsys::abi`; `#[message(crate = path)]`
//! names another path (for code that uses `abi` without `libsys`).

#![deny(missing_docs)]
mod interface;

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as Tokens};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{parse_macro_input, Attribute, Data, DeriveInput, Error, Fields, Ident, Path, Type};

/// Derives `abi::message::Message` (re-exported as `libsys::Message`): the type's encoding,
/// its decoder that checks every field, and its reply type.
///
/// ```ignore
/// #[derive(libsys::Message)]
/// #[repr(C)]
/// #[message(reply = Answer)] // what a call with it gets back; default `abi::message::NoReply`
/// struct Question { id: u32, urgent: bool, pad: [u8; 3] }
///
/// #[derive(libsys::Message)]
/// #[repr(u8)]
/// enum Answer { Yes = 1, No = 2 }
/// ```
///
/// Accepted: `#[repr(C)]` structs without padding whose fields are all messages (integers,
/// `bool`, arrays of messages, other derived messages), and `#[repr(u8|u16|u32|u64)]` enums
/// without fields. Anything else is a compile error saying what to change. Attributes:
/// `#[message(reply = T)]` (the reply type) and `#[message(crate = path)]` (where the `abi`
/// crate is, when not through `::libsys::abi`).
#[proc_macro_derive(Message, attributes(message))]
pub fn derive_message(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand(&input).unwrap_or_else(Error::into_compile_error).into()
}

/// Typed interfaces; documented where libsys re-exports it (`libsys::interface`).
#[proc_macro_attribute]
pub fn interface(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item: Tokens = item.into();
    // On a misuse, the error and the item as written: code using the trait then gets no
    // second error for a trait that vanished.
    interface::expand(attr.into(), item.clone())
        .unwrap_or_else(|e| {
            let mut out = e.into_compile_error();
            out.extend(item);
            out
        })
        .into()
}

/// `#[message(reply = T, crate = path)]`.
struct Options {
    reply: Option<Type>,
    krate: Path,
}

fn options(attrs: &[Attribute]) -> syn::Result<Options> {
    let mut o = Options { reply: None, krate: syn::parse_quote!(::libsys::abi) };
    for attr in attrs.iter().filter(|a| a.path().is_ident("message")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("reply") {
                o.reply = Some(meta.value()?.parse()?);
                Ok(())
            } else if meta.path.is_ident("crate") {
                o.krate = meta.value()?.parse()?;
                Ok(())
            } else {
                Err(meta.error("unknown `message` option: expected `reply = Type` or `crate = path`"))
            }
        })?;
    }
    Ok(o)
}

/// The `repr` of the item: e.g. `C`, `u8`.
fn reprs(attrs: &[Attribute]) -> syn::Result<Vec<Ident>> {
    let mut out = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident("repr")) {
        attr.parse_nested_meta(|meta| {
            if let Some(id) = meta.path.get_ident() {
                out.push(id.clone());
            }
            // `align(N)` and `packed(N)` carry arguments: skip them.
            if meta.input.peek(syn::token::Paren) {
                let _content;
                syn::parenthesized!(_content in meta.input);
            }
            Ok(())
        })?;
    }
    Ok(out)
}

fn check_field_type(ty: &Type) -> syn::Result<()> {
    match ty {
        Type::Reference(_) => Err(Error::new(
            ty.span(),
            "a message cannot contain a reference: messages are copied into another address space, \
             where it would dangle. Put the data itself in the message, or send it as pages in a long message",
        )),
        Type::Ptr(_) => Err(Error::new(
            ty.span(),
            "a message cannot contain a raw pointer: it would mean nothing in the receiver's address space. \
             Put the data itself in the message, or send it as pages in a long message",
        )),
        Type::Array(a) => check_field_type(&a.elem),
        Type::Paren(p) => check_field_type(&p.elem),
        Type::Group(g) => check_field_type(&g.elem),
        _ => Ok(()),
    }
}

fn expand(input: &DeriveInput) -> syn::Result<Tokens> {
    let opts = options(&input.attrs)?;
    let name = &input.ident;
    // Fields first: a `&'a str` field makes the struct generic over `'a`, and the reference
    // is what to fix.
    if let Data::Struct(s) = &input.data {
        for f in &s.fields {
            check_field_type(&f.ty)?;
        }
    }
    if !input.generics.params.is_empty() {
        return Err(Error::new(
            input.generics.span(),
            "a message type cannot be generic: its size must be fixed where it is declared",
        ));
    }
    let krate = &opts.krate;
    let reply = opts.reply.clone().map_or_else(|| quote!(#krate::message::NoReply), |t| quote!(#t));
    let reprs = reprs(&input.attrs)?;
    let mut padding = Tokens::new();
    let (size, encode, decode) = match &input.data {
        Data::Struct(s) => {
            if !reprs.iter().any(|r| r == "C" || r == "transparent") {
                return Err(Error::new(
                    name.span(),
                    format!("`{name}` needs `#[repr(C)]` to be a message: its layout must be the declared field order"),
                ));
            }
            padding = padding_checks(krate, name, &s.fields);
            struct_codec(krate, name, &s.fields)?
        }
        Data::Enum(e) => {
            let repr = reprs.iter().find(|r| ["u8", "u16", "u32", "u64"].iter().any(|t| *r == t)).ok_or_else(|| {
                Error::new(
                    name.span(),
                    format!("`{name}` needs `#[repr(u8)]` (or u16, u32, u64) to be a message: its tag must have a fixed size"),
                )
            })?;
            for v in &e.variants {
                if !matches!(v.fields, Fields::Unit) {
                    return Err(Error::new(
                        v.span(),
                        "message enums cannot carry data: use a tag enum and put the data in a struct next to it",
                    ));
                }
            }
            enum_codec(krate, name, repr, e.variants.iter().map(|v| &v.ident).collect())
        }
        Data::Union(_) => return Err(Error::new(name.span(), "a union cannot be a message: its bytes are ambiguous")),
    };
    let name_str = name.to_string();
    Ok(quote! {
        impl #krate::message::Message for #name {
            const SIZE: usize = #size;
            type Reply = #reply;
            fn encode_into(&self, out: &mut [u8]) {
                #encode
            }
            fn decode(bytes: &[u8]) -> ::core::result::Result<Self, #krate::message::DecodeError> {
                if bytes.len() < <Self as #krate::message::Message>::SIZE {
                    return ::core::result::Result::Err(#krate::message::DecodeError::TooShort {
                        need: <Self as #krate::message::Message>::SIZE,
                        got: bytes.len(),
                    });
                }
                #decode
            }
        }

        const _: () = {
            ::core::assert!(
                <#name as #krate::message::Message>::SIZE <= #krate::SHORT_MAX,
                ::core::concat!("message `", #name_str, "` is larger than abi::SHORT_MAX (4096 bytes): send bulk data as pages in a long message")
            );
        };
        #padding
    })
}

/// Largest padding the messages below count in bytes; more is "at least this many".
const PADDING_COUNTED: usize = 16;

/// A compile-time check that the struct has no padding: one per field, spanned at the
/// field (so the error points at it) and saying how many bytes of padding precede it, and
/// one for padding at the end. The in-memory layout of a message must be its encoding.
fn padding_checks(krate: &Path, name: &Ident, fields: &Fields) -> Tokens {
    let msg = quote!(#krate::message::Message);
    let check = |span: Span, actual: Tokens, expected: Tokens, what: &str, fix: &dyn Fn(&str) -> String| {
        let arms = (1..PADDING_COUNTED).map(|n| {
            let bytes = if n == 1 { "1 byte".to_string() } else { format!("{n} bytes") };
            let text = format!("message `{name}` has {bytes} of padding {what}: {}", fix(&n.to_string()));
            quote!(#n => #text,)
        });
        let more = format!("message `{name}` has {PADDING_COUNTED} or more bytes of padding {what}: {}", fix("N"));
        quote_spanned! {span=>
            const _: () = {
                let (actual, expected): (usize, usize) = (#actual, #expected);
                if actual != expected {
                    let why = match actual.wrapping_sub(expected) {
                        #(#arms)*
                        _ => #more,
                    };
                    ::core::panic!("{}", why);
                }
            };
        }
    };
    let mut out = Tokens::new();
    let mut before = Vec::new();
    for (i, f) in fields.iter().enumerate() {
        let ty = &f.ty;
        let (member, shown) = match &f.ident {
            Some(id) => (quote!(#id), id.to_string()),
            None => {
                let idx = syn::Index::from(i);
                (quote!(#idx), i.to_string())
            }
        };
        let what = format!("before field `{shown}`");
        out.extend(check(
            f.span(),
            quote!(::core::mem::offset_of!(#name, #member)),
            quote!(0 #(+ #before)*),
            &what,
            &|n| format!("reorder the fields (largest first), or add a `[u8; {n}]` field before it"),
        ));
        before.push(quote!(<#ty as #msg>::SIZE));
    }
    // The end: where the last field ends (padding before it was reported above).
    let end = match fields.iter().enumerate().last() {
        Some((i, f)) => {
            let ty = &f.ty;
            let member = f.ident.as_ref().map_or_else(
                || {
                    let idx = syn::Index::from(i);
                    quote!(#idx)
                },
                |id| quote!(#id),
            );
            quote!(::core::mem::offset_of!(#name, #member) + <#ty as #msg>::SIZE)
        }
        None => quote!(0),
    };
    out.extend(check(name.span(), quote!(::core::mem::size_of::<#name>()), end, "at its end", &|n| {
        format!("reorder the fields (largest first), or add a `[u8; {n}]` field at the end")
    }));
    out
}

fn struct_codec(krate: &Path, name: &Ident, fields: &Fields) -> syn::Result<(Tokens, Tokens, Tokens)> {
    let mut sizes = Vec::new();
    let mut enc = Vec::new();
    let mut dec = Vec::new();
    let mut inits = Vec::new();
    for (i, f) in fields.iter().enumerate() {
        check_field_type(&f.ty)?;
        let ty = &f.ty;
        let var = Ident::new(&format!("__f{i}"), Span::call_site());
        let access = match &f.ident {
            Some(id) => quote!(self.#id),
            None => {
                let idx = syn::Index::from(i);
                quote!(self.#idx)
            }
        };
        let offset = quote!(0 #(+ #sizes)*);
        let msg = quote_spanned!(ty.span()=> <#ty as #krate::message::Message>);
        enc.push(quote!(#msg::encode_into(&#access, &mut out[#offset..]);));
        dec.push(quote!(let #var = #msg::decode(&bytes[#offset..]).map_err(|e| e.at(#offset))?;));
        inits.push(match &f.ident {
            Some(id) => quote!(#id: #var),
            None => quote!(#var),
        });
        sizes.push(quote!(#msg::SIZE));
    }
    let construct = match fields {
        Fields::Named(_) => quote!(#name { #(#inits),* }),
        Fields::Unnamed(_) => quote!(#name ( #(#inits),* )),
        Fields::Unit => quote!(#name),
    };
    Ok((quote!(0 #(+ #sizes)*), quote!(#(#enc)*), quote!(#(#dec)* ::core::result::Result::Ok(#construct))))
}

fn enum_codec(krate: &Path, name: &Ident, repr: &Ident, variants: Vec<&Ident>) -> (Tokens, Tokens, Tokens) {
    let name_str = name.to_string();
    let arms = variants.iter().map(|v| quote!(t if t == #name::#v as #repr => ::core::result::Result::Ok(#name::#v),));
    let tags = variants.iter().map(|v| quote!(#name::#v => #name::#v as #repr,));
    (
        quote!(::core::mem::size_of::<#repr>()),
        quote! {
            let tag: #repr = match self { #(#tags)* };
            <#repr as #krate::message::Message>::encode_into(&tag, out);
        },
        quote! {
            let tag = <#repr as #krate::message::Message>::decode(bytes)?;
            match tag {
                #(#arms)*
                _ => ::core::result::Result::Err(#krate::message::DecodeError::Invalid { type_name: #name_str, offset: 0 }),
            }
        },
    )
}
