//! HMAC-SHA256 over a message given in parts: the one keyed-hash routine behind the Slack
//! request signature and both outbound webhook signatures, each of which only says its layout.

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub type HmacSha256 = Hmac<Sha256>;

/// The MAC of `parts` concatenated, ready to `finalize` or `verify_slice` (constant time).
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac
}
