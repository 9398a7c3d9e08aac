//! `lnedge-cln-hold`: lnedge's Core Lightning plugin. Install it as an important plugin
//! (`important-plugin=/path/to/lnedge-cln-hold` in CLN's config) so lightningd never runs
//! without it while lnedge's invoices may have HTLCs held (docs/backends.md).

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    lnedge_cln_plugin::run(tokio::io::stdin(), tokio::io::stdout()).await
}
