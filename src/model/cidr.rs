//! IPv4 CIDR blocks as EC2 reports them for VPCs, subnets, routes, security
//! group rules and network ACL entries.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An IPv4 network such as `10.0.0.0/16`. Host bits are always zero, so two
/// `Cidr`s are equal exactly when they describe the same network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Cidr {
    network: Ipv4Addr,
    prefix_len: u8,
}

impl Cidr {
    /// Rejects prefixes above 32 and networks with host bits set, so that a
    /// typo like `10.0.0.1/16` surfaces instead of silently meaning `10.0.0.0/16`.
    pub(crate) fn new(network: Ipv4Addr, prefix_len: u8) -> Result<Self, CidrError> {
        if prefix_len > 32 {
            return Err(CidrError::InvalidPrefix(format!("{network}/{prefix_len}")));
        }
        let masked = Ipv4Addr::from(u32::from(network) & netmask(prefix_len));
        if masked != network {
            return Err(CidrError::HostBitsSet {
                input: format!("{network}/{prefix_len}"),
                suggestion: format!("{masked}/{prefix_len}"),
            });
        }
        Ok(Self {
            network,
            prefix_len,
        })
    }

    #[cfg(test)]
    pub(crate) fn network(&self) -> Ipv4Addr {
        self.network
    }

    pub(crate) fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    pub(crate) fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & netmask(self.prefix_len) == u32::from(self.network)
    }

    /// Two aligned blocks overlap exactly when one contains the other, which
    /// is decided by comparing both under the shorter prefix.
    pub(crate) fn overlaps(&self, other: &Cidr) -> bool {
        let mask = netmask(self.prefix_len.min(other.prefix_len));
        u32::from(self.network) & mask == u32::from(other.network) & mask
    }
}

fn netmask(prefix_len: u8) -> u32 {
    // A shift by 32 overflows, and /0 is a legitimate route destination.
    u32::MAX
        .checked_shl(32 - u32::from(prefix_len))
        .unwrap_or(0)
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix_len)
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let input = input.trim();
        let Some((address, prefix)) = input.split_once('/') else {
            return Err(CidrError::MissingPrefix(input.to_string()));
        };
        let network: Ipv4Addr = address
            .parse()
            .map_err(|_| CidrError::InvalidAddress(input.to_string()))?;
        // u8::from_str accepts a leading '+', which no CIDR notation uses.
        let prefix_len = prefix
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| prefix.parse::<u8>().ok())
            .flatten()
            .filter(|len| *len <= 32)
            .ok_or_else(|| CidrError::InvalidPrefix(input.to_string()))?;
        Cidr::new(network, prefix_len)
    }
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Why a string is not a CIDR block; each variant carries the offending input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CidrError {
    MissingPrefix(String),
    InvalidAddress(String),
    InvalidPrefix(String),
    HostBitsSet { input: String, suggestion: String },
}

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CidrError::MissingPrefix(input) => write!(
                f,
                "{input:?} is not a CIDR block: it lacks a /prefix length (e.g. {input}/32)"
            ),
            CidrError::InvalidAddress(input) => write!(
                f,
                "{input:?} is not a CIDR block: the part before '/' is not an IPv4 address"
            ),
            CidrError::InvalidPrefix(input) => write!(
                f,
                "{input:?} is not a CIDR block: the prefix length must be a number from 0 to 32"
            ),
            CidrError::HostBitsSet { input, suggestion } => {
                write!(f, "{input} has host bits set; did you mean {suggestion}?")
            }
        }
    }
}

impl std::error::Error for CidrError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(text: &str) -> Cidr {
        text.parse().unwrap()
    }

    fn ip(text: &str) -> Ipv4Addr {
        text.parse().unwrap()
    }

    #[test]
    fn parses_and_displays_round_trip() {
        for text in ["10.0.0.0/16", "0.0.0.0/0", "10.1.2.3/32", "192.168.0.0/24"] {
            assert_eq!(cidr(text).to_string(), text);
        }
        let block = cidr("10.0.0.0/16");
        assert_eq!(block.network(), ip("10.0.0.0"));
        assert_eq!(block.prefix_len(), 16);
    }

    #[test]
    fn tolerates_surrounding_whitespace() {
        assert_eq!(cidr(" 10.0.0.0/8\n"), cidr("10.0.0.0/8"));
    }

    #[test]
    fn host_bits_set_suggests_the_network() {
        let err = "10.0.0.1/16".parse::<Cidr>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "10.0.0.1/16 has host bits set; did you mean 10.0.0.0/16?"
        );
        assert!(matches!(err, CidrError::HostBitsSet { .. }));
    }

    #[test]
    fn rejects_malformed_input_with_specific_errors() {
        let parse = |text: &str| text.parse::<Cidr>().unwrap_err();
        assert!(matches!(parse("10.0.0.0"), CidrError::MissingPrefix(_)));
        assert!(matches!(
            parse("10.0.0.256/16"),
            CidrError::InvalidAddress(_)
        ));
        assert!(matches!(parse("vpc-123/16"), CidrError::InvalidAddress(_)));
        assert!(matches!(parse("10.0.0.0/33"), CidrError::InvalidPrefix(_)));
        assert!(matches!(parse("10.0.0.0/"), CidrError::InvalidPrefix(_)));
        assert!(matches!(parse("10.0.0.0/+8"), CidrError::InvalidPrefix(_)));
        assert!(matches!(parse("10.0.0.0/1a"), CidrError::InvalidPrefix(_)));
        assert!(parse("10.0.0.0").to_string().contains("/prefix"));
    }

    #[test]
    fn new_validates_like_parsing() {
        assert!(Cidr::new(ip("10.0.0.0"), 33).is_err());
        assert!(Cidr::new(ip("10.0.0.1"), 31).is_err());
        assert_eq!(Cidr::new(ip("10.0.0.0"), 8).unwrap(), cidr("10.0.0.0/8"));
    }

    #[test]
    fn contains_respects_the_prefix() {
        let block = cidr("10.1.0.0/16");
        assert!(block.contains(ip("10.1.0.0")));
        assert!(block.contains(ip("10.1.255.255")));
        assert!(!block.contains(ip("10.2.0.0")));
        assert!(!block.contains(ip("10.0.255.255")));
        assert!(cidr("0.0.0.0/0").contains(ip("203.0.113.7")));
        assert!(cidr("10.1.2.3/32").contains(ip("10.1.2.3")));
        assert!(!cidr("10.1.2.3/32").contains(ip("10.1.2.4")));
    }

    #[test]
    fn overlaps_is_symmetric_and_covers_nesting() {
        let cases = [
            ("10.0.0.0/16", "10.0.5.0/24", true),
            ("10.0.0.0/16", "10.0.0.0/16", true),
            ("0.0.0.0/0", "192.168.1.0/24", true),
            ("10.0.0.0/16", "10.1.0.0/16", false),
            ("10.0.0.0/24", "10.0.1.0/24", false),
        ];
        for (a, b, expected) in cases {
            assert_eq!(cidr(a).overlaps(&cidr(b)), expected, "{a} vs {b}");
            assert_eq!(cidr(b).overlaps(&cidr(a)), expected, "{b} vs {a}");
        }
    }

    #[test]
    fn serializes_as_a_string() {
        let block = cidr("10.0.0.0/16");
        let json = serde_json::to_string(&block).unwrap();
        assert_eq!(json, "\"10.0.0.0/16\"");
        assert_eq!(serde_json::from_str::<Cidr>(&json).unwrap(), block);
        assert!(serde_json::from_str::<Cidr>("\"10.0.0.1/16\"").is_err());
    }
}
