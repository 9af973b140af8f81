//! One model endpoint per pod. The model has one endpoint per workload, with one address; a
//! verdict that rests on addresses (an ipBlock, Calico `nets`/`notNets`, a ClusterNetworkPolicy
//! `networks` peer) can differ between two replicas of one workload, so where the live
//! addresses matter each replica becomes an endpoint of its own, with its own address.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use super::PodRef;
use crate::model::Cluster;

/// Gives each pod of `pods` (its endpoint's `namespace/name`, the pod, the address to use) an
/// endpoint of `cluster` carrying that address alone: the first pod of an endpoint takes the
/// endpoint itself, each further replica a copy of it (same labels, ports, service account)
/// named after the pod (`namespace/pod`, or `namespace/workload@pod` should that name be taken).
/// Returns the endpoint (`namespace/name`) of each pod given; pods whose endpoint is not in
/// `cluster` are left out.
pub fn endpoint_per_pod<'a>(
    cluster: &mut Cluster,
    pods: impl IntoIterator<Item = (&'a str, &'a PodRef, IpAddr)>,
) -> HashMap<PodRef, String> {
    let mut keys: HashMap<PodRef, String> = HashMap::new();
    let mut seen: HashSet<&str> = HashSet::new();
    for (endpoint, pod, address) in pods {
        if keys.contains_key(pod) {
            continue;
        }
        let Some(id) = cluster.endpoint(endpoint) else {
            continue;
        };
        if seen.insert(endpoint) {
            cluster.endpoints[id.0].ips = vec![address];
            keys.insert(pod.clone(), endpoint.to_string());
            continue;
        }
        let mut replica = cluster.get(id).clone();
        replica.ips = vec![address];
        let workload = replica.name.clone();
        for name in [pod.name.clone(), format!("{workload}@{}", pod.name)] {
            replica.name = name;
            let key = replica.key();
            if cluster.add_endpoint(replica.clone()).is_ok() {
                keys.insert(pod.clone(), key);
                break;
            }
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::parse_str;
    use crate::model::BuildOptions;

    fn pod(name: &str) -> PodRef {
        PodRef {
            namespace: "x".into(),
            name: name.into(),
        }
    }

    #[test]
    fn each_replica_gets_an_endpoint_of_its_own_with_its_address() {
        let docs = parse_str(
            std::path::Path::new("t.yaml"),
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: x}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: c, image: nginx, ports: [{containerPort: 80}]}]}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: web-1, namespace: x, labels: {app: other}}\nspec: {containers: [{name: c, image: nginx}]}\n",
        )
        .unwrap();
        let mut cluster = Cluster::from_documents(&docs, &BuildOptions::default()).unwrap();
        let (a, b, c): (IpAddr, IpAddr, IpAddr) = (
            "fd00::1".parse().unwrap(),
            "fd00::2".parse().unwrap(),
            "fd00::3".parse().unwrap(),
        );
        let (p0, p1, p2) = (pod("web-0"), pod("web-1"), pod("web-2"));
        let keys = endpoint_per_pod(
            &mut cluster,
            [
                ("x/web", &p0, a),
                ("x/web", &p1, b),
                ("x/web", &p2, c),
                ("x/gone", &p0, c),
            ],
        );
        assert_eq!(keys[&p0], "x/web");
        // `x/web-1` is a bare pod of its own: the replica is named after its workload too.
        assert_eq!(keys[&p1], "x/web@web-1");
        assert_eq!(keys[&p2], "x/web-2");
        let of = |key: &str| cluster.get(cluster.endpoint(key).unwrap());
        assert_eq!(of("x/web").ips, vec![a]);
        assert_eq!(of("x/web@web-1").ips, vec![b]);
        assert_eq!(of("x/web-2").ips, vec![c]);
        assert_eq!(of("x/web-2").labels, of("x/web").labels);
        assert_eq!(of("x/web-2").ports, of("x/web").ports);
        // The bare pod keeps its own labels and address.
        assert_eq!(of("x/web-1").labels["app"], "other");
        assert_ne!(of("x/web-1").ips, vec![b]);
    }
}
