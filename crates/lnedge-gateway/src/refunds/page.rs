//! The HTML page a refund QR opens (`GET <refund_url_base>?v=…`): what the machine owes, and a
//! form for the proof of payment (invoice + preimage, both shown in the wallet's payment
//! details). The form posts to `POST /v1/refunds/claim` and shows the LNURL-withdraw link the
//! wallet opens. No external assets, no cookies; all dynamic text is escaped.

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The refund page for a voucher (the query string as received, and the amount it names).
pub fn refund_page(voucher_query: &str, amount_msat: u64, status: &str) -> String {
    let sats = amount_msat / 1000;
    let voucher = escape(voucher_query);
    let status = escape(status);
    format!(
        r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Refund of a failed vend</title>
<style>body{{font-family:sans-serif;max-width:36em;margin:1em auto;padding:0 1em}}
textarea,input{{width:100%;font-family:monospace}}code{{word-break:break-all}}</style>
</head><body>
<h1>Refund: {sats} sat</h1>
<p>The machine took your payment but could not deliver. Status: <b id="status">{status}</b></p>
<p>Prove that <em>you</em> paid: copy the invoice and the preimage from your wallet's payment
details. (The preimage alone is not enough: every node on the route knows it.)</p>
<form id="proof">
<input type="hidden" name="voucher" value="?{voucher}">
<label>Invoice (lnbc…)<textarea name="invoice" rows="5" required></textarea></label>
<label>Preimage (64 hex digits)<input name="preimage" required pattern="[0-9a-fA-F]{{64}}"></label>
<p><button type="submit">Get my refund</button></p>
</form>
<div id="result" hidden>
<p>Open this link with your wallet to withdraw {sats} sat:</p>
<p><a id="lnurlw" href="#">open in wallet</a></p>
<p><code id="lnurl"></code></p>
</div>
<p id="error" style="color:#a00"></p>
<script>
document.getElementById('proof').addEventListener('submit', async (ev) => {{
  ev.preventDefault();
  const f = new FormData(ev.target);
  const body = JSON.stringify({{voucher: f.get('voucher'), invoice: f.get('invoice'), preimage: f.get('preimage')}});
  const r = await fetch('/v1/refunds/claim', {{method: 'POST', headers: {{'content-type': 'application/json'}}, body}});
  const j = await r.json();
  if (!r.ok) {{ document.getElementById('error').textContent = j.error ? j.error.message : 'refused'; return; }}
  document.getElementById('error').textContent = '';
  document.getElementById('lnurl').textContent = j.lnurl;
  document.getElementById('lnurlw').href = j.lnurlw || ('lightning:' + j.lnurl);
  document.getElementById('result').hidden = false;
}});
</script>
</body></html>
"##
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_text_is_escaped() {
        let page = refund_page("v=<script>alert(1)</script>", 1_800_000, "due");
        assert!(!page.contains("<script>alert"), "{page}");
        assert!(page.contains("Refund: 1800 sat"));
    }
}
