//! Engine tests on hand-built policies: tiers, order, Pass, Log, end-of-tier, directions.

use ipnet::IpNet;

use super::*;
use crate::manifest::Source;
use crate::model::{Cluster, Endpoint, Labels, WorkloadKind};
use crate::policy::{
    DEFAULT_TIER, EntityMatch, Policy, PolicyId, PolicyKind, PolicySet, PortSpec, ProtocolMatch,
    Rule, RuleAction, Selector, Tier, TierDefault,
};

fn endpoint(ns: &str, name: &str, ip: &str) -> Endpoint {
    Endpoint {
        namespace: ns.into(),
        name: name.into(),
        kind: WorkloadKind::Pod,
        labels: Labels::from([("app".into(), name.into())]),
        ports: Vec::new(),
        init_ports: Vec::new(),
        ips: vec![ip.parse().unwrap()],
        service_account: "default".into(),
        host_network: false,
        source: None,
    }
}

fn cluster() -> Cluster {
    let mut c = Cluster::default();
    c.add_endpoint(endpoint("x", "a", "10.0.0.1")).unwrap();
    c.add_endpoint(endpoint("x", "b", "10.0.0.2")).unwrap();
    c
}

fn rule(action: RuleAction, from_app: Option<&str>) -> Rule {
    Rule {
        action,
        protocol: Some(ProtocolMatch::Known(Protocol::Tcp)),
        not_protocol: None,
        icmp: None,
        not_icmp: None,
        ip_version: None,
        source: EntityMatch {
            selector: from_app.map(|a| Selector::Equals("app".into(), a.into())),
            ..EntityMatch::default()
        },
        destination: EntityMatch {
            ports: vec![PortSpec::Range(80, 80)],
            ..EntityMatch::default()
        },
        origin: "spec.ingress[0]".into(),
        written: 0,
        summary: "test rule".into(),
    }
}

fn policy(name: &str, tier: &str, order: Option<f64>, to_app: &str, ingress: Vec<Rule>) -> Policy {
    let ingress = ingress
        .into_iter()
        .enumerate()
        .map(|(i, r)| Rule { written: i, ..r })
        .collect();
    Policy {
        id: PolicyId {
            kind: PolicyKind::CalicoGlobalNetworkPolicy,
            namespace: None,
            name: name.into(),
        },
        tier: tier.into(),
        order,
        subject: Selector::Equals("app".into(), to_app.into()),
        ingress: Some(ingress),
        egress: None,
        source: Source {
            file: "t.yaml".into(),
            document: 1,
            line: 1,
        },
    }
}

fn a_to_b(c: &Cluster, port: u16) -> Packet {
    Packet {
        from: Peer::Endpoint(c.endpoint("x/a").unwrap()),
        to: Peer::Endpoint(c.endpoint("x/b").unwrap()),
        protocol: Protocol::Tcp,
        port: Some(port),
    }
}

#[test]
fn lower_order_deny_beats_a_later_allow_in_the_same_tier() {
    let c = cluster();
    let set = PolicySet {
        tiers: Tier::builtin(),
        policies: vec![
            policy(
                "allow",
                DEFAULT_TIER,
                Some(1000.0),
                "b",
                vec![rule(RuleAction::Allow, Some("a"))],
            ),
            policy(
                "deny",
                DEFAULT_TIER,
                Some(10.0),
                "b",
                vec![rule(RuleAction::Deny, None)],
            ),
        ],
        ..PolicySet::default()
    };
    let oracle = Oracle::new(&c, &set);
    let v = oracle.verdict(&a_to_b(&c, 80));
    assert!(!v.allowed);
    assert_eq!(v.ingress.decision, Decision::Rule { policy: 1, rule: 0 });
    assert_eq!(
        v.ingress.selected_by,
        vec![1, 0],
        "evaluated in order, deny first"
    );
    // Omitted order sorts last.
    let set = PolicySet {
        tiers: Tier::builtin(),
        policies: vec![
            policy(
                "deny",
                DEFAULT_TIER,
                None,
                "b",
                vec![rule(RuleAction::Deny, None)],
            ),
            policy(
                "allow",
                DEFAULT_TIER,
                Some(5000.0),
                "b",
                vec![rule(RuleAction::Allow, Some("a"))],
            ),
        ],
        ..PolicySet::default()
    };
    assert!(Oracle::new(&c, &set).verdict(&a_to_b(&c, 80)).allowed);
}

#[test]
fn pass_skips_to_the_next_tier_and_log_continues() {
    let c = cluster();
    let mut tiers = Tier::builtin();
    tiers.push(Tier {
        name: "security".into(),
        order: Some(100.0),
        default_action: TierDefault::Deny,
        source: None,
    });
    let set = PolicySet {
        tiers,
        policies: vec![
            policy(
                "pass",
                "security",
                Some(1.0),
                "b",
                vec![
                    rule(RuleAction::Log, None),
                    rule(RuleAction::Pass, Some("a")),
                ],
            ),
            // Would deny, but Pass skips the rest of the tier.
            policy(
                "deny-later",
                "security",
                Some(2.0),
                "b",
                vec![rule(RuleAction::Deny, None)],
            ),
            policy(
                "allow",
                DEFAULT_TIER,
                Some(1000.0),
                "b",
                vec![rule(RuleAction::Allow, Some("a"))],
            ),
        ],
        ..PolicySet::default()
    };
    let oracle = Oracle::new(&c, &set);
    let packet = a_to_b(&c, 80);
    let v = oracle.verdict(&packet);
    assert!(v.allowed);
    assert_eq!(v.ingress.decision, Decision::Rule { policy: 2, rule: 0 });
    assert_eq!(
        v.ingress.trail.iter().map(|s| s.action).collect::<Vec<_>>(),
        [RuleAction::Log, RuleAction::Pass]
    );
    let text = oracle.explain(&packet, &v);
    assert!(
        text.contains(
            "passed to the next tier by GlobalNetworkPolicy pass (tier security, order 1) rule 2"
        ),
        "{text}"
    );
}

#[test]
fn a_tier_whose_policies_do_not_match_denies_unless_its_default_is_pass() {
    let c = cluster();
    let only_port_81 = {
        let mut r = rule(RuleAction::Allow, None);
        r.destination.ports = vec![PortSpec::Range(81, 81)];
        r
    };
    for (default, allowed) in [(TierDefault::Deny, false), (TierDefault::Pass, true)] {
        let mut tiers = Tier::builtin();
        tiers.push(Tier {
            name: "t".into(),
            order: Some(1.0),
            default_action: default,
            source: None,
        });
        let set = PolicySet {
            tiers,
            policies: vec![policy("p", "t", None, "b", vec![only_port_81.clone()])],
            ..PolicySet::default()
        };
        let oracle = Oracle::new(&c, &set);
        let v = oracle.verdict(&a_to_b(&c, 80));
        assert_eq!(v.allowed, allowed, "{default:?}");
        if !allowed {
            assert_eq!(
                v.ingress.decision,
                Decision::EndOfTier {
                    tier: "t".into(),
                    policies: vec![0]
                }
            );
        } else {
            assert_eq!(v.ingress.decision, Decision::Passed);
            assert_eq!(v.ingress.undecided, vec![0]);
            let text = oracle.explain(&a_to_b(&c, 80), &v);
            assert!(
                text.contains(
                    "[also selected, no rule matched: GlobalNetworkPolicy p (tier t, order last)]"
                ),
                "{text}"
            );
        }
        assert!(oracle.verdict(&a_to_b(&c, 81)).allowed);
    }
}

#[test]
fn selectors_never_match_external_addresses_but_nets_and_not_selectors_do() {
    let c = cluster();
    let external: std::net::IpAddr = "203.0.113.9".parse().unwrap();
    let mut by_net = rule(RuleAction::Allow, None);
    by_net.source.nets = vec!["203.0.113.0/24".parse::<IpNet>().unwrap()];
    let mut by_not_selector = rule(RuleAction::Allow, None);
    by_not_selector.source.not_selector = Some(Selector::Has("app".into()));
    for (r, want) in [
        (rule(RuleAction::Allow, Some("a")), false),
        (by_net, true),
        (by_not_selector, true),
    ] {
        let set = PolicySet {
            tiers: Tier::builtin(),
            policies: vec![policy("p", DEFAULT_TIER, None, "b", vec![r])],
            ..PolicySet::default()
        };
        let oracle = Oracle::new(&c, &set);
        let packet = Packet {
            from: Peer::External(external),
            to: Peer::Endpoint(c.endpoint("x/b").unwrap()),
            protocol: Protocol::Tcp,
            port: Some(80),
        };
        let v = oracle.verdict(&packet);
        assert_eq!(v.allowed, want);
        assert_eq!(v.egress.decision, Decision::NotPoliced);
    }
}

#[test]
fn matrix_covers_every_ordered_pair_and_agrees_with_verdicts() {
    let c = cluster();
    let set = PolicySet {
        tiers: Tier::builtin(),
        policies: vec![policy(
            "p",
            DEFAULT_TIER,
            None,
            "b",
            vec![rule(RuleAction::Allow, Some("b"))],
        )],
        ..PolicySet::default()
    };
    let oracle = Oracle::new(&c, &set);
    let probes = [
        ProbePort {
            port: Some(80),
            protocol: Protocol::Tcp,
        },
        ProbePort {
            port: None,
            protocol: Protocol::Icmp,
        },
    ];
    let m = oracle.matrix(&probes);
    assert_eq!(m.cells().count(), 2 * 2 * 2);
    for cell in m.cells() {
        let v = oracle.verdict(&Oracle::packet(cell.from, cell.to, cell.probe));
        assert_eq!(cell.allowed, v.allowed, "{cell:?}");
    }
    let a = c.endpoint("x/a").unwrap();
    let b = c.endpoint("x/b").unwrap();
    assert!(!m.allowed(0, a, b));
    assert!(m.allowed(0, b, b));
    assert!(!m.allowed(1, b, b), "ICMP does not match a TCP rule");
    assert!(m.allowed(0, b, a), "a is not selected");
}

#[rstest::rstest]
#[case("80/TCP", Some(80), Protocol::Tcp)]
#[case("53/udp", Some(53), Protocol::Udp)]
#[case("9003/SCTP", Some(9003), Protocol::Sctp)]
#[case("icmp", None, Protocol::Icmp)]
#[case("80", Some(80), Protocol::Tcp)]
fn probe_ports_parse(#[case] text: &str, #[case] port: Option<u16>, #[case] protocol: Protocol) {
    assert_eq!(
        text.parse::<ProbePort>().unwrap(),
        ProbePort { port, protocol }
    );
}

#[rstest::rstest]
#[case("http", "not a port number")]
#[case("0/TCP", "not a port number")]
#[case("70000/TCP", "not a port number")]
#[case("80/HTTP", "unknown protocol")]
#[case("80/ICMP", "ICMP has no port")]
fn bad_probe_ports_are_refused(#[case] text: &str, #[case] want: &str) {
    let err = text.parse::<ProbePort>().unwrap_err().to_string();
    assert!(err.contains(want), "{err}");
}

#[test]
fn an_end_of_tier_deny_also_names_earlier_tiers_policies_that_matched_nothing() {
    let c = cluster();
    let only_81 = |action| {
        let mut r = rule(action, None);
        r.destination.ports = vec![PortSpec::Range(81, 81)];
        r
    };
    let mut tiers = Tier::builtin();
    tiers.push(Tier {
        name: "t".into(),
        order: Some(1.0),
        default_action: TierDefault::Pass,
        source: None,
    });
    let set = PolicySet {
        tiers,
        policies: vec![
            policy("early", "t", None, "b", vec![only_81(RuleAction::Deny)]),
            policy(
                "late",
                DEFAULT_TIER,
                None,
                "b",
                vec![only_81(RuleAction::Allow)],
            ),
        ],
        ..PolicySet::default()
    };
    let oracle = Oracle::new(&c, &set);
    let packet = a_to_b(&c, 80);
    let v = oracle.verdict(&packet);
    assert!(!v.allowed);
    assert_eq!(v.ingress.undecided, vec![0, 1]);
    let text = oracle.explain(&packet, &v);
    assert!(
        text.contains("denied, selected by GlobalNetworkPolicy late (tier default, order last) but no rule matched (end of tier default) [also selected, no rule matched: GlobalNetworkPolicy early (tier t, order last)]"),
        "{text}"
    );
}
