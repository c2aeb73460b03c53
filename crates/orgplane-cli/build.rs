//! Link settings of the `orgplane` binary.

fn main() {
    // Pack the relative relocations (DT_RELR, glibc 2.36 and later: Debian 12, Ubuntu 22.10).
    // The binary stays position-independent, so its address is still randomised, but its
    // relocation table shrinks from megabytes, which the loader reads and keeps resident at
    // every start, to kilobytes (docs/benchmarks.md, "Footprint").
    let linux_gnu = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu");
    if linux_gnu {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
