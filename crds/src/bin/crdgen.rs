//! Writes the CustomResourceDefinitions of the Fjord resources beside the `fjord-crds` crate.
//!
//! `cargo run -p fjord-crds --bin crdgen` (optionally with a target directory as argument).

use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    for (name, yaml) in fjord_crds::crd_files() {
        let path = dir.join(name);
        std::fs::write(&path, yaml)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
