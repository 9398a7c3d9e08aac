"""A third-party LNURL client (PyPI `lnurl`, https://github.com/lnbits/lnurl) driving an lnedge
gateway, for the interop test `tests/it/interop_py.rs`. One JSON object on stdout per call;
exit 1 with {"error": ...} when the client refuses.

  login <lnurl|url>              LUD-04/05: derive the linking key from a seed, sign k1
  pay <lnurl|url>                LUD-06: fetch, take minSendable, get the invoice; checks the
                                 amount and the description hash = SHA-256(metadata)
  decrypt <ciphertext> <iv> <preimage hex>   LUD-10: AES-256-CBC with the preimage
  withdraw <lnurl|url> <bolt11>  LUD-03: fetch the withdrawRequest, send the invoice
"""

import asyncio
import base64
import hashlib
import json
import sys

import bolt11
import lnurl
from Cryptodome.Cipher import AES

SEED = "6c6e6564676520696e7465726f702074657374207365656420303030303030"  # hex, as the client wants


async def main(args):
    mode = args[0]
    if mode == "login":
        # The client's own LUD-05 key derivation and LUD-04 signature (coincurve). Its
        # `execute_login` is not used: it sends `key` and `sig` with httpx `params=`, which
        # replaces the callback's query string and so drops `k1` and `tag` (LUD-04 appends
        # `&sig=&key=` to the URL as it is); we append them as LUD-04 says.
        res = await lnurl.handle(args[1])
        linking_key, _ = lnurl.helpers.lnurlauth_derive_linking_key(seed=SEED, domain=res.callback.host)
        key, sig = lnurl.helpers.lnurlauth_signature(res.k1, linking_key=linking_key)
        import httpx
        async with httpx.AsyncClient() as client:
            answer = (await client.get(f"{res.callback}&sig={sig}&key={key}")).json()
        return {"ok": answer.get("status") == "OK", "reason": answer.get("reason"), "key": key}
    if mode == "pay":
        res = await lnurl.handle(args[1])
        paid = await lnurl.execute_pay_request(res, int(res.minSendable))
        invoice = bolt11.decode(paid.pr)
        metadata_hash = hashlib.sha256(str(res.metadata).encode()).hexdigest()
        action = paid.successAction
        return {
            "pr": str(paid.pr),
            "amount_msat": int(invoice.amount_msat),
            "description_hash_ok": invoice.description_hash == metadata_hash,
            "success_action": None if action is None else {
                "tag": str(getattr(action.tag, "value", action.tag)),
                "ciphertext": str(getattr(action, "ciphertext", "")),
                "iv": str(getattr(action, "iv", "")),
            },
        }
    if mode == "decrypt":
        ciphertext, iv, preimage = base64.b64decode(args[1]), base64.b64decode(args[2]), bytes.fromhex(args[3])
        plain = AES.new(preimage, AES.MODE_CBC, iv).decrypt(ciphertext)
        pad = plain[-1]
        return {"text": plain[:-pad].decode()}
    if mode == "withdraw":
        res = await lnurl.handle(args[1])
        if isinstance(res, lnurl.LnurlErrorResponse):
            return {"error": res.reason}
        out = await lnurl.execute_withdraw(res, args[2])
        return {"ok": bool(out.ok), "max_withdrawable": int(res.maxWithdrawable)}
    raise ValueError(f"unknown mode {mode}")


if __name__ == "__main__":
    try:
        print(json.dumps(asyncio.run(main(sys.argv[1:]))))
    except Exception as exc:  # the client's refusal, reported to the Rust test
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        sys.exit(1)
