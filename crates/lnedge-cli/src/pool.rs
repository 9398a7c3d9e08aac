//! `lnedge pool provision` and `lnedge pool inspect`.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use lnedge_gateway::provision::{provision, PoolKey, PoolPlan, Product};
use lnedge_node::ldk::{ChainSource, LdkBackend, LdkConfig};
use lnedge_node::sandbox::SandboxNetwork;
use lnedge_node::LightningBackend;
use lnedge_proto::pool::Pool;
use lnedge_proto::{DeviceId, PoolId};

use crate::util::group;

/// `lnedge pool …`
#[derive(Debug, Subcommand)]
pub(crate) enum PoolCommand {
    /// Create a pool of pre-signed invoices for a device on the owner's node and write the pool
    /// file (it holds no secret: only payment hashes and the node's signatures).
    Provision(ProvisionArgs),
    /// Show what a pool file holds, verify its signatures, and print its invoices.
    Inspect(InspectArgs),
}

/// A product given as `ID:DESCRIPTION:PRICE`, the price in sat (`2500`, `2500sat`) or msat
/// (`2500000msat`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProductArg {
    id: u16,
    description: String,
    price_msat: u64,
}

impl FromStr for ProductArg {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let usage = "expected ID:DESCRIPTION:PRICE, e.g. 1:cola:2500sat";
        let (id, rest) = text.split_once(':').ok_or(usage)?;
        let (description, price) = rest.rsplit_once(':').ok_or(usage)?;
        let id: u16 =
            id.parse().map_err(|_| format!("product id {id:?} is not a number 0-65535"))?;
        if description.is_empty() {
            return Err(format!("product {id} has an empty description"));
        }
        let price_msat = if let Some(msat) = price.strip_suffix("msat") {
            msat.parse::<u64>().map_err(|_| format!("price {price:?} is not a number of msat"))?
        } else {
            let sat = price.strip_suffix("sat").unwrap_or(price);
            sat.parse::<u64>()
                .ok()
                .and_then(|s| s.checked_mul(1000))
                .ok_or_else(|| format!("price {price:?} is not a number of sat"))?
        };
        if price_msat == 0 {
            return Err(format!("product {id} must have a price above zero"));
        }
        Ok(ProductArg { id, description: description.to_owned(), price_msat })
    }
}

fn parse_hex<const N: usize>(text: &str, what: &str) -> Result<[u8; N], String> {
    let bytes = hex::decode(text).map_err(|e| format!("{what} is not hex: {e}"))?;
    bytes.try_into().map_err(|b: Vec<u8>| format!("{what} must be {N} bytes, got {}", b.len()))
}

fn parse_device(text: &str) -> Result<DeviceId, String> {
    parse_hex::<16>(text, "device id").map(DeviceId)
}

fn parse_pool_id(text: &str) -> Result<PoolId, String> {
    parse_hex::<8>(text, "pool id").map(PoolId)
}

fn parse_owner(text: &str) -> Result<[u8; 33], String> {
    parse_hex::<33>(text, "owner node id")
}

/// Options of `lnedge pool provision`.
#[derive(Debug, Args)]
pub(crate) struct ProvisionArgs {
    /// The device's id (32 hex characters).
    #[arg(long, value_parser = parse_device)]
    device: DeviceId,
    /// A product as ID:DESCRIPTION:PRICE (repeat for several), e.g. `1:cola:2500sat`.
    #[arg(long = "product", required = true)]
    products: Vec<ProductArg>,
    /// Invoices per product.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    entries: u32,
    /// Sequence number of each product's first entry (continue where the last pool stopped).
    #[arg(long, default_value_t = 0)]
    first_seq: u32,
    /// The pool's id (16 hex characters); random by default.
    #[arg(long, value_parser = parse_pool_id)]
    pool_id: Option<PoolId>,
    /// Invoice lifetime in days.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=365))]
    expiry_days: u32,
    /// Base URL of the gateway's refund endpoint, shown in refund QR codes.
    #[arg(long, default_value = "")]
    refund_url: String,
    /// The operator's pool key file (created with a fresh key if missing). Keep it secret.
    #[arg(long, default_value = "lnedge-pool.key")]
    pool_key: PathBuf,
    /// Where to write the pool.
    #[arg(long, short)]
    out: PathBuf,
    #[command(flatten)]
    node: NodeArgs,
}

/// Which node signs the invoices.
#[derive(Debug, Args)]
pub(crate) struct NodeArgs {
    /// Use a throwaway in-process sandbox node (to try the format: nobody can pay it afterwards).
    #[arg(long, conflicts_with = "ldk_dir")]
    sandbox: bool,
    /// Data directory of the operator's embedded ldk-node.
    #[arg(long)]
    ldk_dir: Option<PathBuf>,
    /// Network of the ldk-node.
    #[arg(long, default_value = "regtest", value_parser = ["bitcoin", "testnet", "signet", "regtest"])]
    network: String,
    /// Esplora server URL for the ldk-node chain source.
    #[arg(long, conflicts_with_all = ["electrum", "bitcoind_rpc"])]
    esplora: Option<String>,
    /// Electrum server URL for the ldk-node chain source.
    #[arg(long, conflicts_with = "bitcoind_rpc")]
    electrum: Option<String>,
    /// bitcoind RPC as USER:PASSWORD@HOST:PORT for the ldk-node chain source.
    #[arg(long)]
    bitcoind_rpc: Option<String>,
}

fn chain_source(args: &NodeArgs) -> Result<ChainSource> {
    Ok(ChainSource::from_options(
        args.esplora.as_deref(),
        args.electrum.as_deref(),
        args.bitcoind_rpc.as_deref(),
    )?)
}

/// Runs `lnedge pool …`.
pub(crate) async fn run(command: PoolCommand) -> Result<()> {
    match command {
        PoolCommand::Provision(args) => provision_cmd(args).await,
        PoolCommand::Inspect(args) => inspect(args),
    }
}

async fn provision_cmd(args: ProvisionArgs) -> Result<()> {
    if args.out.exists() {
        bail!("{} exists; refusing to overwrite a pool file", args.out.display());
    }
    let created = !args.pool_key.exists();
    let key = PoolKey::load_or_create(&args.pool_key)?;
    if created {
        // Say so: a secret appeared on disk (in the current directory by default).
        eprintln!(
            "note: created the pool key {} (secret: every pool preimage derives from it; keep it, \
             or pass --pool-key to put it elsewhere)",
            args.pool_key.display()
        );
    }
    let plan = PoolPlan {
        device_id: args.device,
        pool_id: args.pool_id.unwrap_or_else(|| PoolId(rand::random())),
        products: {
            let mut products: Vec<Product> = args
                .products
                .iter()
                .map(|p| Product {
                    id: p.id,
                    description: p.description.clone(),
                    price_msat: p.price_msat,
                    first_seq: args.first_seq,
                })
                .collect();
            products.sort_by_key(|p| p.id);
            products
        },
        entries_per_product: args.entries,
        expiry_secs: args.expiry_days * 86_400,
        refund_url_base: args.refund_url.clone(),
    };
    plan.validate()?;

    // Keep the sandbox network alive while provisioning.
    let mut _sandbox = None;
    let owner: Arc<dyn LightningBackend> = if args.node.sandbox {
        eprintln!(
            "note: signing with a throwaway sandbox node: nobody can pay this pool afterwards"
        );
        let net = SandboxNetwork::new().await?;
        let node = net.add_node("owner").await?;
        _sandbox = Some(net);
        node
    } else if let Some(dir) = &args.node.ldk_dir {
        let network = args.node.network.parse().context("--network")?;
        let config = LdkConfig::new(dir.clone(), network, chain_source(&args.node)?);
        Arc::new(LdkBackend::start(config).await?)
    } else {
        bail!(
            "say which node signs the invoices: --ldk-dir DIR (with a chain source) or --sandbox"
        );
    };

    let total = plan.total_entries();
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:40}] {pos}/{len} invoices ({eta} left)",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message("provisioning");
    let pool = provision(&*owner, &key, &plan, |done, _| bar.set_position(done)).await?;
    bar.finish_and_clear();
    write_new_file(&args.out, &pool.bytes)?;
    println!("wrote {} ({} bytes)", args.out.display(), group(pool.bytes.len() as u64));
    println!("  pool {}  for device {}", plan.pool_id, plan.device_id);
    println!("  owner node {}", hex::encode(pool.owner_node_id));
    println!(
        "  {} invoices; {:.1} bytes per entry, {:.1} % of the BOLT 11 strings ({} bytes)",
        pool.entries,
        pool.bytes.len() as f64 / pool.entries as f64,
        100.0 * pool.bytes.len() as f64 / pool.bolt11_bytes as f64,
        group(pool.bolt11_bytes)
    );
    println!("  next pool for this device: --first-seq {}", args.first_seq + args.entries);
    Ok(())
}

/// Writes `bytes` to a new file, durably.
fn write_new_file(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

/// Options of `lnedge pool inspect`.
#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    /// The pool file.
    file: PathBuf,
    /// Refuse the pool unless it is signed by this node (66 hex characters).
    #[arg(long, value_parser = parse_owner)]
    owner: Option<[u8; 33]>,
    /// Print this many invoices of the pool.
    #[arg(long, default_value_t = 1)]
    show: usize,
}

fn inspect(args: InspectArgs) -> Result<()> {
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let pool = Pool::parse(&bytes)
        .with_context(|| format!("{} is not a valid pool", args.file.display()))?;
    println!("pool {} (format v{})", pool.pool_id(), pool.version());
    println!("  device  {}", pool.device_id());
    println!("  owner   {}", hex::encode(pool.owner_node_id()));
    println!("  network {}", pool.network());
    if !pool.refund_url_base().is_empty() {
        println!("  refunds {}", pool.refund_url_base());
    }
    println!("  {:>5}  {:<24} {:>14}  {:>8}  seq", "id", "description", "price (sat)", "entries");
    for p in pool.products() {
        let last = p.first_seq.saturating_add(p.entry_count.saturating_sub(1));
        println!(
            "  {:>5}  {:<24} {:>14}  {:>8}  {}..={}",
            p.id,
            p.description.unwrap_or("(description hash)"),
            p.amount_msat.map_or("any".into(), |m| format!("{:.3}", m as f64 / 1000.0)),
            p.entry_count,
            p.first_seq,
            last
        );
    }
    let bolt11_bytes: usize = pool.entries().map(|e| e.bolt11().len()).sum();
    println!(
        "  {} entries in {} bytes: {:.1} bytes per entry, {:.1} % of the {} bytes of BOLT 11 strings",
        pool.len(),
        group(bytes.len() as u64),
        bytes.len() as f64 / pool.len().max(1) as f64,
        100.0 * bytes.len() as f64 / bolt11_bytes.max(1) as f64,
        group(bolt11_bytes as u64)
    );
    match pool.verify_signatures() {
        Ok(()) => println!("  signatures: all {} recover the owner node id", pool.len()),
        Err(e) => bail!("signature check failed: {e}"),
    }
    if let Some(owner) = args.owner {
        if owner != pool.owner_node_id() {
            bail!(
                "the pool is signed by {}, not by the expected owner {}",
                hex::encode(pool.owner_node_id()),
                hex::encode(owner)
            );
        }
        println!("  owner matches the expected node");
    }
    for entry in pool.entries().take(args.show) {
        println!(
            "  entry {} (product {}, seq {}): {}",
            entry.index(),
            entry.product(),
            entry.seq(),
            entry.bolt11()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_parse_with_units_and_clear_errors() {
        let p: ProductArg = "1:cola:2500sat".parse().expect("sat");
        assert_eq!(p, ProductArg { id: 1, description: "cola".into(), price_msat: 2_500_000 });
        let p: ProductArg = "2:iced tea: lemon:1500".parse().expect("colon in description");
        assert_eq!(p.description, "iced tea: lemon");
        assert_eq!(p.price_msat, 1_500_000);
        let p: ProductArg = "3:gum:999msat".parse().expect("msat");
        assert_eq!(p.price_msat, 999);
        assert!("x:cola:1".parse::<ProductArg>().expect_err("id").contains("product id"));
        assert!("1:cola"
            .parse::<ProductArg>()
            .expect_err("short")
            .contains("ID:DESCRIPTION:PRICE"));
        assert!("1:cola:free".parse::<ProductArg>().expect_err("price").contains("not a number"));
        assert!("1:cola:0".parse::<ProductArg>().expect_err("zero").contains("above zero"));
        assert!("1::5".parse::<ProductArg>().expect_err("empty").contains("empty description"));
    }

    #[test]
    fn ids_must_have_the_right_length() {
        assert!(parse_device("00").expect_err("short").contains("16 bytes"));
        assert!(parse_pool_id("zz").expect_err("hex").contains("not hex"));
        assert_eq!(parse_device(&"ab".repeat(16)).expect("ok"), DeviceId([0xab; 16]));
    }
}
