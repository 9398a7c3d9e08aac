//! What a wallet does with a link before anything is paid: turning `LNURL1…`, LUD-17 and plain
//! URLs into the URL to fetch (LUD-01, LUD-17), and the LUD-05 linking key of a domain.

use hmac::{Hmac, Mac};
use lnedge_node::bitcoin::bip32::{ChildNumber, Xpriv};
use lnedge_node::bitcoin::secp256k1::{Message, PublicKey, Secp256k1, SecretKey};
use lnedge_node::bitcoin::Network;
use sha2::Sha256;
use url::Url;

use super::WalletError;

/// Strips a `lightning:` URI scheme (any case) and surrounding blanks.
pub(crate) fn strip_lightning(text: &str) -> &str {
    let text = text.trim();
    match text.get(..10) {
        Some(head) if head.eq_ignore_ascii_case("lightning:") => &text[10..],
        _ => text,
    }
}

/// The URL a link points to: `LNURL1…` (LUD-01, also as a `?lightning=` fallback parameter),
/// `lnurlp://` / `lnurlw://` / `lnurlc://` / `keyauth://` (LUD-17 through
/// `lnedge_proto::envelope::lud17_to_url`: `https`, or `http` for `.onion` and loopback hosts),
/// or an `https://` / `http://` URL as is.
pub(crate) fn resolve(link: &str, field: &'static str) -> Result<Url, WalletError> {
    let text = strip_lightning(link);
    if text.is_empty() {
        return Err(WalletError::invalid(field, "empty"));
    }
    if text.len() > 6 && text[..6].eq_ignore_ascii_case("lnurl1") {
        let url = crate::lnurl::decode(text)
            .map_err(|e| WalletError::invalid(field, format!("not a valid LNURL: {e}")))?;
        return parse(&url, field);
    }
    // LUD-17, with the loopback convention lnedge's own servers use (one rule for the project).
    if let Some(url) = lnedge_proto::envelope::lud17_to_url(text) {
        return parse(&url, field);
    }
    let lower = text.to_ascii_lowercase();
    if lower.starts_with("https://") || lower.starts_with("http://") {
        let url = parse(text, field)?;
        // LUD-01 fallback: `https://service.com?lightning=LNURL1…`.
        let fallback = url.query_pairs().find(|(k, _)| k == "lightning").map(|(_, v)| v);
        if let Some(inner) = fallback.filter(|v| v.to_ascii_lowercase().starts_with("lnurl1")) {
            return resolve(&inner, field);
        }
        return Ok(url);
    }
    Err(WalletError::invalid(
        field,
        "not an LNURL (LNURL1…, lnurlp://, lnurlw://, keyauth:// or an http(s) URL)",
    ))
}

fn parse(url: &str, field: &'static str) -> Result<Url, WalletError> {
    let parsed = Url::parse(url)
        .map_err(|e| WalletError::invalid(field, format!("{url:?} is not a URL ({e})")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(WalletError::invalid(field, format!("{url:?} is not an http(s) URL")));
    }
    Ok(parsed)
}

/// The LUD-05 linking key of `domain` from the wallet's `seed`: BIP 32 master of the seed,
/// hashing key = `m/138'/0`, `d = HMAC-SHA256(hashing key, domain)`, linking key =
/// `m/138'/<d[0..4]>/<d[4..8]>/<d[8..12]>/<d[12..16]>` (big-endian `u32`s).
pub(crate) fn linking_key(seed: &[u8; 32], domain: &str) -> Result<SecretKey, WalletError> {
    let secp = Secp256k1::signing_only();
    let key_error = |e: &dyn std::fmt::Display| WalletError::Key(e.to_string());
    let master = Xpriv::new_master(Network::Regtest, seed).map_err(|e| key_error(&e))?;
    let purpose = ChildNumber::from_hardened_idx(138).map_err(|e| key_error(&e))?;
    let hashing = master
        .derive_priv(&secp, &[purpose, ChildNumber::from_normal_idx(0).map_err(|e| key_error(&e))?])
        .map_err(|e| key_error(&e))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&hashing.private_key.secret_bytes())
        .map_err(|e| key_error(&e))?;
    mac.update(domain.as_bytes());
    let d = mac.finalize().into_bytes();
    let mut path = vec![purpose];
    for chunk in d[..16].chunks_exact(4) {
        path.push(ChildNumber::from(u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]])));
    }
    Ok(master.derive_priv(&secp, &path).map_err(|e| key_error(&e))?.private_key)
}

/// LUD-04: the DER ECDSA signature (low S, hex) of the raw 32 bytes of `k1` with `key`, and the
/// key's compressed public key (hex).
pub(crate) fn sign_k1(key: &SecretKey, k1: &[u8; 32]) -> (String, String) {
    let secp = Secp256k1::signing_only();
    let sig = secp.sign_ecdsa(&Message::from_digest(*k1), key);
    let public = PublicKey::from_secret_key(&secp, key);
    (hex::encode(sig.serialize_der()), hex::encode(public.serialize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_resolve_to_the_url_to_fetch() {
        let url = "https://service.com/api?q=3fc3645b439ce8e7f2553a69e5267081d96dcd340693afabe04be7b0ccd178df";
        let lnurl = crate::lnurl::encode(url);
        assert_eq!(resolve(&lnurl, "f").unwrap().as_str(), url);
        assert_eq!(
            resolve(&format!("lightning:{}", lnurl.to_lowercase()), "f").unwrap().as_str(),
            url
        );
        assert_eq!(
            resolve(&format!("https://wallet.example/?lightning={lnurl}"), "f").unwrap().as_str(),
            url
        );
        assert_eq!(
            resolve("lnurlw://gw.example/w?x=1", "f").unwrap().as_str(),
            "https://gw.example/w?x=1"
        );
        assert_eq!(resolve("lnurlp://abc.onion/p", "f").unwrap().as_str(), "http://abc.onion/p");
        assert_eq!(
            resolve("keyauth://127.0.0.1:8080/a?tag=login", "f").unwrap().as_str(),
            "http://127.0.0.1:8080/a?tag=login"
        );
        assert_eq!(resolve("http://127.0.0.1:1/x", "f").unwrap().as_str(), "http://127.0.0.1:1/x");
        for bad in ["", "hello", "ftp://x", "LNURL1XYZ", "lnbcrt1xyz"] {
            assert!(
                matches!(resolve(bad, "lnurl"), Err(WalletError::Invalid { field: "lnurl", .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn linking_keys_are_per_domain_and_signatures_verify() {
        let seed = [7u8; 32];
        let a = linking_key(&seed, "a.example").unwrap();
        assert_eq!(a, linking_key(&seed, "a.example").unwrap());
        assert_ne!(a, linking_key(&seed, "b.example").unwrap());
        let k1 = [9u8; 32];
        let (sig, key) = sign_k1(&a, &k1);
        assert_eq!(key.len(), 66);
        assert!(crate::refunds::lnurl_auth::verify(&k1, &sig, &key).is_ok());
    }
}
