//! A streaming pre-scan of untrusted XML (quick-xml, no DTD support, no entity expansion) that runs
//! before anything reaches libxml2/xmlsec. It refuses the constructs we never accept and collects
//! the facts the verifier uses for its diagnostics and for the extra checks on the unsigned
//! Response envelope.

use quick_xml::NsReader;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;

pub(crate) const NS_PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub(crate) const NS_ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
pub(crate) const NS_DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
pub(crate) const NS_METADATA: &str = "urn:oasis:names:tc:SAML:2.0:metadata";

/// Why the pre-scan refused a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ScanError {
    /// `<!DOCTYPE` or `<!ENTITY` seen (entity expansion, external entities).
    Doctype,
    /// An XML comment somewhere in the document.
    Comment,
    /// Not well-formed, or a construct we refuse (processing instruction, CDATA, non-UTF-8
    /// encoding declaration, more than one root, too deep).
    Malformed(String),
}

/// One `ds:Signature` element as written in the document (unverified facts, diagnostics only).
#[derive(Debug, Default, Clone)]
pub(crate) struct SignatureFacts {
    pub signature_method: Option<String>,
    pub digest_methods: Vec<String>,
    /// Base64 text of every `ds:X509Certificate` inside this signature's `KeyInfo`.
    pub certificates: Vec<String>,
}

/// What the pre-scan learnt about the document. Everything here is UNVERIFIED: it may only be used
/// to reject, or to explain a rejection, never to accept.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// (namespace, local name) of the root element.
    pub root: Option<(String, String)>,
    /// Attributes of the root element (local name -> value), unescaped.
    pub root_attributes: Vec<(String, String)>,
    /// Text of the root's direct `saml:Issuer` child.
    pub root_issuer: Option<String>,
    /// `Value` of the `samlp:StatusCode` directly under the root's `samlp:Status` (top level only).
    pub top_status: Option<String>,
    pub signatures: Vec<SignatureFacts>,
    /// `EncryptedAssertion`, `EncryptedID` or `EncryptedAttribute` present.
    pub encrypted: bool,
    /// Number of `saml:Assertion` elements anywhere in the document.
    pub assertions: usize,
    /// Number of `samlp:Response` elements anywhere in the document.
    pub responses: usize,
}

impl Scan {
    pub(crate) fn root_attribute(&self, name: &str) -> Option<&str> {
        self.root_attributes.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub(crate) fn root_is(&self, ns: &str, local: &str) -> bool {
        self.root.as_ref().is_some_and(|(n, l)| n == ns && l == local)
    }
}

const MAX_DEPTH: usize = 64;

/// Byte-level refusal of DTDs and entity declarations, before any XML parser sees the input.
pub(crate) fn has_doctype(xml: &str) -> bool {
    let bytes = xml.as_bytes();
    let needles: [&[u8]; 2] = [b"<!doctype", b"<!entity"];
    bytes.windows(9).any(|w| needles[0].eq_ignore_ascii_case(w))
        || bytes.windows(8).any(|w| needles[1].eq_ignore_ascii_case(w))
}

fn resolved_ns(ns: &ResolveResult<'_>) -> String {
    match ns {
        ResolveResult::Bound(n) => String::from_utf8_lossy(n.as_ref()).into_owned(),
        _ => String::new(),
    }
}

fn attr_value(start: &BytesStart<'_>, name: &str) -> Result<Option<String>, ScanError> {
    for attr in start.attributes() {
        let attr = attr.map_err(|e| ScanError::Malformed(format!("bad attribute: {e}")))?;
        if attr.key.local_name().as_ref() == name.as_bytes() && attr.key.prefix().is_none() {
            let v = attr
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|e| ScanError::Malformed(format!("bad attribute value: {e}")))?;
            return Ok(Some(v.into_owned()));
        }
    }
    Ok(None)
}

/// Scans `xml`. Refuses DOCTYPE/ENTITY, comments (unless `allow_comments`), processing instructions, CDATA, non-UTF-8
/// encoding declarations, several roots and nesting deeper than 64 elements.
pub(crate) fn scan(xml: &str, allow_comments: bool) -> Result<Scan, ScanError> {
    if has_doctype(xml) {
        return Err(ScanError::Doctype);
    }
    let mut reader = NsReader::from_str(xml);
    let mut out = Scan::default();
    // Stack of (namespace, local name) of open elements.
    let mut stack: Vec<(String, String)> = Vec::new();
    // Index into out.signatures for each open ds:Signature (innermost last).
    let mut open_sigs: Vec<(usize, usize)> = Vec::new(); // (signature index, depth at open)
    let mut root_closed = false;
    let mut in_x509 = false;
    let mut in_root_issuer = false;
    loop {
        let (ns, event) =
            reader.read_resolved_event().map_err(|e| ScanError::Malformed(format!("not well-formed XML: {e}")))?;
        match event {
            Event::Start(ref s) | Event::Empty(ref s) => {
                if root_closed {
                    return Err(ScanError::Malformed("content after the root element".into()));
                }
                let is_empty = matches!(event, Event::Empty(_));
                let ns = resolved_ns(&ns);
                let local = String::from_utf8_lossy(s.local_name().as_ref()).into_owned();
                let depth = stack.len();
                if depth >= MAX_DEPTH {
                    return Err(ScanError::Malformed("elements nested too deeply".into()));
                }
                if depth == 0 {
                    out.root = Some((ns.clone(), local.clone()));
                    for attr in s.attributes() {
                        let attr = attr.map_err(|e| ScanError::Malformed(format!("bad attribute: {e}")))?;
                        if attr.key.prefix().is_some() || attr.key.as_ref() == b"xmlns" {
                            continue;
                        }
                        let v = attr
                            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                            .map_err(|e| ScanError::Malformed(format!("bad attribute value: {e}")))?;
                        out.root_attributes.push((
                            String::from_utf8_lossy(attr.key.local_name().as_ref()).into_owned(),
                            v.into_owned(),
                        ));
                    }
                }
                if ns == NS_ASSERTION
                    && matches!(local.as_str(), "EncryptedAssertion" | "EncryptedID" | "EncryptedAttribute")
                {
                    out.encrypted = true;
                }
                if local == "Assertion" && ns == NS_ASSERTION {
                    out.assertions += 1;
                }
                if local == "Response" && ns == NS_PROTOCOL {
                    out.responses += 1;
                }
                if depth == 1 && ns == NS_ASSERTION && local == "Issuer" && !is_empty {
                    in_root_issuer = true;
                    out.root_issuer = Some(String::new());
                }
                if depth == 2
                    && ns == NS_PROTOCOL
                    && local == "StatusCode"
                    && stack.get(1).is_some_and(|(n, l)| n == NS_PROTOCOL && l == "Status")
                    && out.top_status.is_none()
                {
                    out.top_status = Some(attr_value(s, "Value")?.unwrap_or_default());
                }
                if ns == NS_DSIG {
                    match local.as_str() {
                        "Signature" => {
                            out.signatures.push(SignatureFacts::default());
                            if !is_empty {
                                open_sigs.push((out.signatures.len() - 1, depth));
                            }
                        }
                        "SignatureMethod" => {
                            if let Some((i, _)) = open_sigs.last() {
                                out.signatures[*i].signature_method = attr_value(s, "Algorithm")?;
                            }
                        }
                        "DigestMethod" => {
                            if let Some((i, _)) = open_sigs.last() {
                                out.signatures[*i].digest_methods.push(attr_value(s, "Algorithm")?.unwrap_or_default());
                            }
                        }
                        "X509Certificate" if !is_empty => {
                            if let Some((i, _)) = open_sigs.last() {
                                out.signatures[*i].certificates.push(String::new());
                                in_x509 = true;
                            }
                        }
                        _ => {}
                    }
                }
                if is_empty {
                    if depth == 0 {
                        root_closed = true;
                    }
                } else {
                    stack.push((ns, local));
                }
            }
            Event::End(_) => {
                stack.pop();
                let depth = stack.len();
                if open_sigs.last().is_some_and(|(_, d)| *d == depth) {
                    open_sigs.pop();
                }
                in_x509 = false;
                in_root_issuer = false;
                if depth == 0 {
                    root_closed = true;
                }
            }
            Event::Text(t) => {
                let text = t.decode().map_err(|e| ScanError::Malformed(format!("bad text: {e}")))?;
                if stack.is_empty() && !text.trim().is_empty() {
                    return Err(ScanError::Malformed("text outside the root element".into()));
                }
                if in_x509
                    && let Some((i, _)) = open_sigs.last()
                    && let Some(c) = out.signatures[*i].certificates.last_mut()
                {
                    c.push_str(&text);
                }
                if in_root_issuer && let Some(i) = out.root_issuer.as_mut() {
                    i.push_str(&text);
                }
            }
            Event::GeneralRef(r) => {
                // Only the predefined entities and character references can appear without a DTD;
                // quick-xml reports them separately. Keep the Issuer text faithful enough for a
                // comparison (anything unusual simply makes it differ, which only rejects).
                if in_root_issuer && let Some(i) = out.root_issuer.as_mut() {
                    let name = String::from_utf8_lossy(r.as_ref()).into_owned();
                    i.push_str(&resolve_reference(&name));
                }
            }
            Event::Comment(_) if !allow_comments => return Err(ScanError::Comment),
            Event::Comment(_) => {}
            Event::DocType(_) => return Err(ScanError::Doctype),
            Event::CData(_) => return Err(ScanError::Malformed("CDATA sections are not accepted".into())),
            Event::PI(_) => return Err(ScanError::Malformed("processing instructions are not accepted".into())),
            Event::Decl(d) => {
                let version = d.version().map_err(|e| ScanError::Malformed(format!("bad XML declaration: {e}")))?;
                if version.as_ref() != b"1.0" {
                    return Err(ScanError::Malformed("only XML 1.0 is accepted".into()));
                }
                if let Some(enc) = d.encoding() {
                    let enc = enc.map_err(|e| ScanError::Malformed(format!("bad XML declaration: {e}")))?;
                    let enc = String::from_utf8_lossy(&enc).to_ascii_lowercase();
                    if enc != "utf-8" && enc != "utf8" {
                        return Err(ScanError::Malformed(format!("only UTF-8 is accepted, not {enc}")));
                    }
                }
            }
            Event::Eof => break,
        }
    }
    if out.root.is_none() {
        return Err(ScanError::Malformed("no root element".into()));
    }
    if !stack.is_empty() {
        return Err(ScanError::Malformed("unclosed element".into()));
    }
    Ok(out)
}

/// Resolves a predefined entity or a character reference; anything else is kept verbatim (which
/// can only make a comparison fail).
fn resolve_reference(name: &str) -> String {
    let ch = match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => name
            .strip_prefix("#x")
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
            .and_then(char::from_u32),
    };
    ch.map(String::from).unwrap_or_else(|| format!("&{name};"))
}
