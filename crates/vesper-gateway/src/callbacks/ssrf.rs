//! Which callback destinations the gateway may connect to (SSRF protection).
//!
//! One policy, [`check_url`] (shape, then an IP-literal host against [`AddressPolicy::check`]),
//! applied everywhere a URL or an address is met:
//! - at submit time, [`validate_callback_url`] (the raw string's checks, then [`check_url`]);
//! - at delivery, again [`validate_callback_url`] (the policy may have changed), every
//!   redirect hop through [`check_url`] in the sender's redirect policy, and every address a
//!   name resolves to through [`AddressPolicy::check`] in its resolver (see `deliver.rs`).
//!
//! The policy is a deny-list of special-purpose ranges (IANA special-purpose registries, RFC
//! 6890 and successors) with an operator allow-list on top. IPv6 addresses that embed an IPv4
//! address (mapped, compatible, NAT64, 6to4) are judged by the IPv4 address they embed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use url::{Host, Url};

use super::CallbackError;

/// Longest callback URL accepted, in bytes (both as given and after normalisation).
pub const MAX_CALLBACK_URL_BYTES: usize = 2048;

/// Where callbacks may go: everything public, plus the ranges the operator allows.
///
/// `allow` re-admits special-purpose ranges (say an internal `10.1.0.0/16` receiver). It
/// cannot re-admit addresses that are never a unicast destination: unspecified (`0.0.0.0/8`,
/// `::`, which Linux treats as "this host"), multicast and broadcast.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    pub allow: Vec<IpNet>,
}

/// Why an address was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("address is in a refused range ({range})")]
pub struct Refusal {
    /// The address as it was met (before unwrapping an embedded IPv4 address).
    pub ip: IpAddr,
    pub range: RefusedRange,
}

/// The special-purpose range an address fell into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RefusedRange {
    /// `0.0.0.0/8`, `::`. Never allowable.
    Unspecified,
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// RFC 1918: `10/8`, `172.16/12`, `192.168/16`.
    Private,
    /// RFC 6598 carrier-grade NAT: `100.64/10`.
    SharedAddressSpace,
    /// `169.254/16` (cloud metadata lives at `169.254.169.254`), `fe80::/10`.
    LinkLocal,
    /// `fc00::/7` (includes AWS's `fd00:ec2::254`).
    UniqueLocal,
    /// `fec0::/10`, deprecated but still routed by some stacks.
    SiteLocal,
    /// `224/4`, `ff00::/8`. Never allowable.
    Multicast,
    /// `255.255.255.255`. Never allowable.
    Broadcast,
    /// `192.0.0.0/24`, `2001::/23` (Teredo, ORCHID, benchmarking and friends).
    IetfProtocol,
    /// `192.0.2/24`, `198.51.100/24`, `203.0.113/24`, `2001:db8::/32`, `3fff::/20`.
    Documentation,
    /// `198.18/15`.
    Benchmarking,
    /// `240/4`, `192.88.99/24` (6to4 relay anycast), `100::/64` (discard-only),
    /// `64:ff9b:1::/48` (local-use NAT64), and all IPv6 outside `2000::/3`.
    Reserved,
}

impl RefusedRange {
    pub fn as_str(self) -> &'static str {
        match self {
            RefusedRange::Unspecified => "unspecified",
            RefusedRange::Loopback => "loopback",
            RefusedRange::Private => "private",
            RefusedRange::SharedAddressSpace => "shared_address_space",
            RefusedRange::LinkLocal => "link_local",
            RefusedRange::UniqueLocal => "unique_local",
            RefusedRange::SiteLocal => "site_local",
            RefusedRange::Multicast => "multicast",
            RefusedRange::Broadcast => "broadcast",
            RefusedRange::IetfProtocol => "ietf_protocol",
            RefusedRange::Documentation => "documentation",
            RefusedRange::Benchmarking => "benchmarking",
            RefusedRange::Reserved => "reserved",
        }
    }

    /// Ranges that are never a unicast destination, whatever the allow-list says.
    fn never_allowable(self) -> bool {
        matches!(
            self,
            RefusedRange::Unspecified | RefusedRange::Multicast | RefusedRange::Broadcast
        )
    }
}

impl std::fmt::Display for RefusedRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl AddressPolicy {
    /// Refuse `ip` if it is in a special-purpose range that the allow-list does not cover.
    pub fn check(&self, ip: IpAddr) -> Result<(), Refusal> {
        let judged = embedded_ipv4(ip).map_or(ip, IpAddr::V4);
        let Some(range) = classify(judged) else {
            return Ok(());
        };
        let allowed = !range.never_allowable()
            && self
                .allow
                .iter()
                .any(|net| net.contains(&judged) || net.contains(&ip));
        if allowed {
            Ok(())
        } else {
            Err(Refusal { ip, range })
        }
    }
}

/// What is wrong with a callback URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UrlProblem {
    TooLong,
    /// Spaces or control characters (the URL parser would silently strip them).
    Whitespace,
    Unparseable,
    /// Not `http` or `https`.
    Scheme,
    MissingHost,
    /// `user:password@` in the authority.
    Userinfo,
    Fragment,
}

impl UrlProblem {
    pub fn as_str(self) -> &'static str {
        match self {
            UrlProblem::TooLong => "too_long",
            UrlProblem::Whitespace => "whitespace",
            UrlProblem::Unparseable => "unparseable",
            UrlProblem::Scheme => "scheme",
            UrlProblem::MissingHost => "missing_host",
            UrlProblem::Userinfo => "userinfo",
            UrlProblem::Fragment => "fragment",
        }
    }
}

impl std::fmt::Display for UrlProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Check a client's `callback_url` at submit time and return it parsed and normalised.
///
/// http or https, a host, no userinfo, no fragment, at most [`MAX_CALLBACK_URL_BYTES`].
/// An IP-literal host must pass `policy`; names are checked when the sender connects (they
/// may resolve differently by then).
pub fn validate_callback_url(s: &str, policy: &AddressPolicy) -> Result<Url, CallbackError> {
    let url = parse(s).map_err(|problem| CallbackError::InvalidUrl { problem })?;
    check_url(&url, policy, UrlUse::Submitted)?;
    Ok(url)
}

/// Where a URL is met.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum UrlUse {
    /// A client's `callback_url`: a fragment is refused (it would be dropped silently).
    Submitted,
    /// A redirect target while delivering: a fragment is harmless (it is not sent).
    Redirect,
}

/// The callback URL policy, for submitted URLs and redirect targets alike: `http` or
/// `https`, a host, no userinfo, no fragment (when submitted), at most
/// [`MAX_CALLBACK_URL_BYTES`] once normalised, and an IP-literal host that `policy` admits.
/// (Names are vetted when they are resolved, by [`AddressPolicy::check`].)
pub(super) fn check_url(
    url: &Url,
    policy: &AddressPolicy,
    used: UrlUse,
) -> Result<(), CallbackError> {
    check_parsed(url, used).map_err(|problem| CallbackError::InvalidUrl { problem })?;
    check_ip_literal(url, policy).map_err(|refusal| CallbackError::AddressRefused { refusal })
}

/// The checks of the string as the client gave it, and parsing.
fn parse(s: &str) -> Result<Url, UrlProblem> {
    if s.len() > MAX_CALLBACK_URL_BYTES {
        return Err(UrlProblem::TooLong);
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(UrlProblem::Whitespace);
    }
    Url::parse(s).map_err(|_| UrlProblem::Unparseable)
}

fn check_parsed(url: &Url, used: UrlUse) -> Result<(), UrlProblem> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(UrlProblem::Scheme);
    }
    match url.host() {
        None => return Err(UrlProblem::MissingHost),
        Some(Host::Domain("")) => return Err(UrlProblem::MissingHost),
        Some(_) => {}
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlProblem::Userinfo);
    }
    if used == UrlUse::Submitted && url.fragment().is_some() {
        return Err(UrlProblem::Fragment);
    }
    if url.as_str().len() > MAX_CALLBACK_URL_BYTES {
        return Err(UrlProblem::TooLong);
    }
    Ok(())
}

/// Check the host if it is an IP literal. Such hosts never reach a resolver, so this is the
/// only check they get. (The URL parser already turned `2130706433`, `0x7f.1` and friends
/// into `Host::Ipv4`.)
fn check_ip_literal(url: &Url, policy: &AddressPolicy) -> Result<(), Refusal> {
    match url.host() {
        Some(Host::Ipv4(a)) => policy.check(IpAddr::V4(a)),
        Some(Host::Ipv6(a)) => policy.check(IpAddr::V6(a)),
        Some(Host::Domain(_)) | None => Ok(()),
    }
}

/// The IPv4 address an IPv6 address stands for, if it embeds one: IPv4-mapped
/// `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d` (not `::` or `::1`), NAT64 `64:ff9b::/96`
/// and 6to4 `2002:AABB:CCDD::/48`.
fn embedded_ipv4(ip: IpAddr) -> Option<Ipv4Addr> {
    let IpAddr::V6(v6) = ip else { return None };
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    let seg = v6.segments();
    let low = Ipv4Addr::new(
        (seg[6] >> 8) as u8,
        seg[6] as u8,
        (seg[7] >> 8) as u8,
        seg[7] as u8,
    );
    if seg[..6] == [0; 6] && u32::from(low) > 1 {
        return Some(low); // IPv4-compatible (deprecated)
    }
    if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(low); // NAT64 well-known prefix, RFC 6052
    }
    if seg[0] == 0x2002 {
        return Some(Ipv4Addr::new(
            (seg[1] >> 8) as u8,
            seg[1] as u8,
            (seg[2] >> 8) as u8,
            seg[2] as u8,
        )); // 6to4, RFC 3056
    }
    None
}

/// The special-purpose range `ip` is in, or `None` for an ordinary public address.
fn classify(ip: IpAddr) -> Option<RefusedRange> {
    match ip {
        IpAddr::V4(a) => classify_v4(a),
        IpAddr::V6(a) => classify_v6(a),
    }
}

fn classify_v4(a: Ipv4Addr) -> Option<RefusedRange> {
    use RefusedRange::*;
    let o = a.octets();
    Some(match o {
        [0, ..] => Unspecified,
        [10, ..] => Private,
        [100, b, ..] if (64..128).contains(&b) => SharedAddressSpace,
        [127, ..] => Loopback,
        [169, 254, ..] => LinkLocal,
        [172, b, ..] if (16..32).contains(&b) => Private,
        [192, 0, 0, _] => IetfProtocol,
        [192, 0, 2, _] => Documentation,
        [192, 88, 99, _] => Reserved,
        [192, 168, ..] => Private,
        [198, 18 | 19, ..] => Benchmarking,
        [198, 51, 100, _] => Documentation,
        [203, 0, 113, _] => Documentation,
        [224..=239, ..] => Multicast,
        [255, 255, 255, 255] => Broadcast,
        [240..=255, ..] => Reserved,
        _ => return None,
    })
}

fn classify_v6(a: Ipv6Addr) -> Option<RefusedRange> {
    use RefusedRange::*;
    let seg = a.segments();
    if a.is_unspecified() {
        return Some(Unspecified);
    }
    if a.is_loopback() {
        return Some(Loopback);
    }
    if seg[0] & 0xff00 == 0xff00 {
        return Some(Multicast);
    }
    if seg[0] & 0xffc0 == 0xfe80 {
        return Some(LinkLocal);
    }
    if seg[0] & 0xffc0 == 0xfec0 {
        return Some(SiteLocal);
    }
    if seg[0] & 0xfe00 == 0xfc00 {
        return Some(UniqueLocal);
    }
    // Everything else outside global unicast 2000::/3 is unassigned or special
    // (::/8 remnants, 64:ff9b:1::/48, 100::/64, 5f00::/16 SRv6, ...).
    if seg[0] & 0xe000 != 0x2000 {
        return Some(Reserved);
    }
    if seg[0] == 0x2001 && seg[1] == 0x0db8 {
        return Some(Documentation);
    }
    if seg[0] == 0x2001 && seg[1] < 0x0200 {
        return Some(IetfProtocol); // 2001::/23
    }
    if seg[0] == 0x3fff && seg[1] < 0x1000 {
        return Some(Documentation); // 3fff::/20, RFC 9637
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn refused(policy: &AddressPolicy, s: &str) -> RefusedRange {
        match policy.check(ip(s)) {
            Err(r) => {
                assert_eq!(r.ip, ip(s));
                r.range
            }
            Ok(()) => panic!("{s} was allowed"),
        }
    }

    #[test]
    fn refuses_every_special_ipv4_range() {
        use RefusedRange::*;
        let p = AddressPolicy::default();
        let cases = [
            ("0.0.0.0", Unspecified),
            ("0.255.255.255", Unspecified),
            ("10.0.0.1", Private),
            ("10.255.255.255", Private),
            ("100.64.0.0", SharedAddressSpace),
            ("100.127.255.255", SharedAddressSpace),
            ("127.0.0.1", Loopback),
            ("127.0.0.2", Loopback),
            ("127.255.255.254", Loopback),
            ("169.254.0.1", LinkLocal),
            ("169.254.169.254", LinkLocal),
            ("172.16.0.0", Private),
            ("172.31.255.255", Private),
            ("192.0.0.8", IetfProtocol),
            ("192.0.0.170", IetfProtocol),
            ("192.0.2.1", Documentation),
            ("192.88.99.1", Reserved),
            ("192.168.0.1", Private),
            ("192.168.255.255", Private),
            ("198.18.0.1", Benchmarking),
            ("198.19.255.255", Benchmarking),
            ("198.51.100.7", Documentation),
            ("203.0.113.9", Documentation),
            ("224.0.0.1", Multicast),
            ("239.255.255.250", Multicast),
            ("240.0.0.1", Reserved),
            ("254.255.255.255", Reserved),
            ("255.255.255.255", Broadcast),
        ];
        for (s, want) in cases {
            assert_eq!(refused(&p, s), want, "{s}");
        }
    }

    #[test]
    fn allows_public_ipv4_including_range_edges() {
        let p = AddressPolicy::default();
        for s in [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.0",
            "192.0.3.0",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "198.51.99.255",
            "198.51.101.0",
            "203.0.112.255",
            "203.0.114.0",
            "223.255.255.255",
        ] {
            assert_eq!(p.check(ip(s)), Ok(()), "{s}");
        }
    }

    #[test]
    fn refuses_every_special_ipv6_range() {
        use RefusedRange::*;
        let p = AddressPolicy::default();
        let cases = [
            ("::", Unspecified),
            ("::1", Loopback),
            ("fe80::1", LinkLocal),
            ("febf:ffff::1", LinkLocal),
            ("fec0::1", SiteLocal),
            ("fc00::1", UniqueLocal),
            ("fd00:ec2::254", UniqueLocal),
            ("fdff:ffff::1", UniqueLocal),
            ("ff02::1", Multicast),
            ("ff0e::1", Multicast),
            ("2001:db8::1", Documentation),
            ("2001:db8:ffff::1", Documentation),
            ("3fff::1", Documentation),
            ("3fff:fff::1", Documentation),
            ("2001::1", IetfProtocol),   // Teredo
            ("2001:2::1", IetfProtocol), // benchmarking
            ("2001:1ff::1", IetfProtocol),
            ("100::1", Reserved),       // discard-only
            ("64:ff9b:1::1", Reserved), // local-use NAT64
            ("5f00::1", Reserved),      // SRv6 SIDs
            ("4000::1", Reserved),      // outside 2000::/3
            ("1000::1", Reserved),
        ];
        for (s, want) in cases {
            assert_eq!(refused(&p, s), want, "{s}");
        }
    }

    #[test]
    fn allows_public_ipv6() {
        let p = AddressPolicy::default();
        for s in [
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
            "2001:200::1",
            "2001:db7:ffff::1",
            "2001:db9::1",
            "3ffe::1",
            "3fff:1000::1",
            "3ff0::1",
            "64:ff9b::808:808", // NAT64 of 8.8.8.8
            "2002:808:808::1",  // 6to4 of 8.8.8.8
            "::ffff:8.8.8.8",
        ] {
            assert_eq!(p.check(ip(s)), Ok(()), "{s}");
        }
    }

    #[test]
    fn judges_embedded_ipv4_by_the_ipv4_address() {
        use RefusedRange::*;
        let p = AddressPolicy::default();
        let cases = [
            ("::ffff:127.0.0.1", Loopback),
            ("::ffff:7f00:1", Loopback),
            ("::ffff:169.254.169.254", LinkLocal),
            ("::ffff:10.0.0.1", Private),
            ("::ffff:0.0.0.0", Unspecified),
            ("::127.0.0.1", Loopback),
            ("::10.1.2.3", Private),
            ("::0.0.0.2", Unspecified),
            ("64:ff9b::127.0.0.1", Loopback),
            ("64:ff9b::a9fe:a9fe", LinkLocal),
            ("2002:7f00:1::", Loopback),
            ("2002:c0a8:101::1", Private),
            ("2002:a9fe:a9fe::1", LinkLocal),
        ];
        for (s, want) in cases {
            assert_eq!(refused(&p, s), want, "{s}");
        }
    }

    #[test]
    fn allow_list_readmits_ranges_but_never_unspecified_multicast_broadcast() {
        let p = AddressPolicy {
            allow: vec![
                "10.1.0.0/16".parse().unwrap(),
                "127.0.0.2/32".parse().unwrap(),
                "fd00::/8".parse().unwrap(),
                "0.0.0.0/0".parse().unwrap(),
            ],
        };
        // 0.0.0.0/0 in the list would admit all of IPv4 except the never-allowable ranges.
        assert_eq!(p.check(ip("10.1.2.3")), Ok(()));
        assert_eq!(p.check(ip("127.0.0.2")), Ok(()));
        assert_eq!(p.check(ip("fd00:ec2::254")), Ok(()));
        assert_eq!(refused(&p, "0.0.0.0"), RefusedRange::Unspecified);
        assert_eq!(refused(&p, "224.0.0.1"), RefusedRange::Multicast);
        assert_eq!(refused(&p, "255.255.255.255"), RefusedRange::Broadcast);
        assert_eq!(refused(&p, "::"), RefusedRange::Unspecified);

        let narrow = AddressPolicy {
            allow: vec![
                "10.1.0.0/16".parse().unwrap(),
                "127.0.0.2/32".parse().unwrap(),
            ],
        };
        assert_eq!(narrow.check(ip("10.1.255.255")), Ok(()));
        assert_eq!(narrow.check(ip("::ffff:10.1.0.9")), Ok(()));
        assert_eq!(refused(&narrow, "10.2.0.1"), RefusedRange::Private);
        assert_eq!(refused(&narrow, "127.0.0.1"), RefusedRange::Loopback);
        assert_eq!(refused(&narrow, "::ffff:127.0.0.1"), RefusedRange::Loopback);
        assert_eq!(refused(&narrow, "::1"), RefusedRange::Loopback);
    }

    fn problem(s: &str) -> UrlProblem {
        match validate_callback_url(s, &AddressPolicy::default()) {
            Err(CallbackError::InvalidUrl { problem }) => problem,
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn validate_accepts_ordinary_urls() {
        let p = AddressPolicy::default();
        for s in [
            "https://example.com/hooks/vesper",
            "http://example.com:8080/a?b=c",
            "https://8.8.8.8/x",
            "https://[2606:4700:4700::1111]/x",
            // Names are checked at connect time, not here.
            "http://localhost:9000/",
            "http://internal.corp/",
        ] {
            let u = validate_callback_url(s, &p).unwrap();
            assert_eq!(u.as_str().trim_end_matches('/'), s.trim_end_matches('/'));
        }
    }

    #[test]
    fn validate_rejects_bad_shapes() {
        use UrlProblem::*;
        assert_eq!(problem("ftp://example.com/"), Scheme);
        assert_eq!(problem("file:///etc/passwd"), Scheme);
        assert_eq!(problem("gopher://example.com/"), Scheme);
        assert_eq!(problem("javascript:alert(1)"), Scheme);
        assert_eq!(problem("example.com/hook"), Unparseable);
        assert_eq!(problem("http://"), Unparseable);
        assert_eq!(problem(""), Unparseable);
        assert_eq!(problem("http://user@example.com/"), Userinfo);
        assert_eq!(problem("http://user:pw@example.com/"), Userinfo);
        assert_eq!(problem("http://:pw@example.com/"), Userinfo);
        assert_eq!(problem("http://example.com/#frag"), Fragment);
        assert_eq!(problem("http://example.com/#"), Fragment);
        assert_eq!(problem(" http://example.com/"), Whitespace);
        assert_eq!(problem("http://exa\tmple.com/"), Whitespace);
        assert_eq!(problem("http://example.com/\r\nx"), Whitespace);
        let long = format!("https://example.com/{}", "a".repeat(MAX_CALLBACK_URL_BYTES));
        assert_eq!(problem(&long), TooLong);
        let just_fits = format!("https://example.com/{}", "a".repeat(2048 - 20));
        assert_eq!(just_fits.len(), MAX_CALLBACK_URL_BYTES);
        validate_callback_url(&just_fits, &AddressPolicy::default()).unwrap();
        // Percent-encoding can grow a URL past the limit.
        let grows = format!("https://example.com/{}", "é".repeat(1000));
        assert!(grows.len() <= MAX_CALLBACK_URL_BYTES);
        assert_eq!(problem(&grows), TooLong);
    }

    #[test]
    fn validate_refuses_ip_literals_in_any_spelling() {
        let p = AddressPolicy::default();
        for (s, want) in [
            ("http://127.0.0.1:8080/", RefusedRange::Loopback),
            ("http://[::1]/", RefusedRange::Loopback),
            (
                "http://169.254.169.254/latest/meta-data/",
                RefusedRange::LinkLocal,
            ),
            ("http://10.0.0.1/", RefusedRange::Private),
            ("http://[::ffff:127.0.0.1]/", RefusedRange::Loopback),
            ("http://[::ffff:a9fe:a9fe]/", RefusedRange::LinkLocal),
            ("http://[fd00:ec2::254]/", RefusedRange::UniqueLocal),
            ("http://0.0.0.0/", RefusedRange::Unspecified),
            ("http://0/", RefusedRange::Unspecified),
            ("http://2130706433/", RefusedRange::Loopback),
            ("http://0x7f.1/", RefusedRange::Loopback),
            ("http://0177.0.0.1/", RefusedRange::Loopback),
            ("http://127.1/", RefusedRange::Loopback),
            ("http://127.0.0.1./", RefusedRange::Loopback),
            ("https://192.168.1.1/", RefusedRange::Private),
        ] {
            match validate_callback_url(s, &p) {
                Err(CallbackError::AddressRefused { refusal }) => {
                    assert_eq!(refusal.range, want, "{s}")
                }
                other => panic!("{s}: {other:?}"),
            }
        }
        let allow = AddressPolicy {
            allow: vec!["10.0.0.0/8".parse().unwrap()],
        };
        validate_callback_url("http://10.0.0.1/", &allow).unwrap();
    }

    #[test]
    fn codes_are_stable() {
        let e = validate_callback_url("ftp://x/", &AddressPolicy::default()).unwrap_err();
        assert_eq!(e.code(), "invalid_callback_url");
        let e = validate_callback_url("http://10.0.0.1/", &AddressPolicy::default()).unwrap_err();
        assert_eq!(e.code(), "callback_address_refused");
        assert_eq!(e.to_string(), "callback address refused");
    }
}
