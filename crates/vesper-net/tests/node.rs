//! Real libp2p nodes on loopback: trusted peers exchange job frames; an untrusted peer
//! completes Noise and is refused before any application protocol.

use std::time::Duration;

use tokio::time::timeout;
use vesper_net::{Multiaddr, Net, NetConfig, NetEvent, NodeIdentity, PeerId};
use vesper_proto::{LeaseRequest, Message, NoWork};

fn listening() -> NetConfig {
    NetConfig {
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
        request_timeout: Duration::from_secs(5),
        ..NetConfig::default()
    }
}

async fn listen_addr(net: &mut Net) -> Multiaddr {
    loop {
        match timeout(Duration::from_secs(10), net.events.recv()).await {
            Ok(Some(NetEvent::Listening(a))) => return a,
            Ok(Some(_)) => continue,
            other => panic!("no listen address: {other:?}"),
        }
    }
}

/// Answer every lease request with `no_work` carrying the requester's position.
fn serve(mut net: Net) -> tokio::sync::mpsc::Receiver<NetEvent> {
    tokio::spawn(async move {
        let mut n = 0;
        while let Some(req) = net.requests.recv().await {
            n += 1;
            match req.message {
                Message::LeaseRequest(_) => req
                    .reply
                    .send(Message::NoWork(NoWork { retry_after_ms: n })),
                _ => drop(req),
            }
        }
    });
    net.events
}

#[tokio::test]
async fn trusted_peers_talk_and_an_untrusted_peer_is_refused_after_noise() {
    let gw_id = NodeIdentity::generate();
    let good_id = NodeIdentity::generate();
    let bad_id = NodeIdentity::generate();

    let mut gw = Net::spawn(&gw_id, [good_id.peer_id()], listening()).unwrap();
    let addr = listen_addr(&mut gw).await;
    let gw_peer: PeerId = gw.handle.peer_id();
    let gw_handle = gw.handle.clone();
    let mut gw_events = serve(gw);
    let full: Multiaddr = format!("{addr}/p2p/{gw_peer}").parse().unwrap();

    // The trusted worker trusts the gateway too (trust is mutual).
    let good = Net::spawn(&good_id, [gw_peer], NetConfig::default()).unwrap();
    good.handle.dial(full.clone()).await.unwrap();
    let r = good
        .handle
        .request(gw_peer, Message::LeaseRequest(LeaseRequest { max_jobs: 1 }))
        .await
        .unwrap();
    assert_eq!(r, Message::NoWork(NoWork { retry_after_ms: 1 }));

    // The untrusted node trusts the gateway, so its side of Noise completes; the gateway
    // refuses it before any protocol: its request fails and it never gets an answer.
    let bad = Net::spawn(&bad_id, [gw_peer], NetConfig::default()).unwrap();
    let _ = bad.handle.dial(full.clone()).await;
    let err = bad
        .handle
        .request(gw_peer, Message::LeaseRequest(LeaseRequest { max_jobs: 1 }))
        .await;
    assert!(err.is_err(), "an untrusted peer got an answer: {err:?}");
    let refused = timeout(Duration::from_secs(10), async {
        loop {
            match gw_events.recv().await {
                Some(NetEvent::Refused { peer }) => return peer,
                Some(_) => continue,
                None => panic!("events closed"),
            }
        }
    })
    .await
    .expect("the gateway reports the refusal");
    assert_eq!(refused, bad_id.peer_id());
    let info = gw_handle.info().await.unwrap();
    assert!(info.connected.contains(&good_id.peer_id()));
    assert!(!info.connected.contains(&bad_id.peer_id()));

    // The trusted worker still works, and the count shows the refused request never reached
    // the gateway's request handler.
    let r = good
        .handle
        .request(gw_peer, Message::LeaseRequest(LeaseRequest { max_jobs: 1 }))
        .await
        .unwrap();
    assert_eq!(r, Message::NoWork(NoWork { retry_after_ms: 2 }));

    // Withdrawing trust closes the connection and refuses the next attempt.
    gw_handle
        .set_trusted(good_id.peer_id(), false)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = good
        .handle
        .request(gw_peer, Message::LeaseRequest(LeaseRequest { max_jobs: 1 }))
        .await;
    assert!(r.is_err(), "an untrusted peer was served: {r:?}");
}

#[tokio::test]
async fn a_node_refuses_to_dial_out_to_an_untrusted_peer() {
    let a = NodeIdentity::generate();
    let b = NodeIdentity::generate();
    let mut na = Net::spawn(&a, [b.peer_id()], listening()).unwrap();
    let addr = listen_addr(&mut na).await;
    let _ea = serve(na);
    // `b` does not trust `a`: its own gate drops the connection it dialed.
    let nb = Net::spawn(&b, [], NetConfig::default()).unwrap();
    let full: Multiaddr = format!("{addr}/p2p/{}", a.peer_id()).parse().unwrap();
    assert!(nb.handle.dial(full).await.is_err());
    let r = nb
        .handle
        .request(
            a.peer_id(),
            Message::LeaseRequest(LeaseRequest { max_jobs: 1 }),
        )
        .await;
    assert!(r.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_strangers_and_a_connection_limit_leave_trusted_service_intact() {
    let gw_id = NodeIdentity::generate();
    let friends: Vec<NodeIdentity> = (0..3).map(|_| NodeIdentity::generate()).collect();
    let mut gw = Net::spawn(
        &gw_id,
        friends.iter().map(|f| f.peer_id()),
        NetConfig {
            max_connections: 2,
            ..listening()
        },
    )
    .unwrap();
    let addr = listen_addr(&mut gw).await;
    let gw_peer = gw.handle.peer_id();
    let gw_handle = gw.handle.clone();
    let _events = serve(gw);
    let full: Multiaddr = format!("{addr}/p2p/{gw_peer}").parse().unwrap();

    // 40 strangers (who trust the gateway) dial at once: every one is refused, none served.
    let mut strangers = Vec::new();
    for _ in 0..40 {
        let s = Net::spawn(&NodeIdentity::generate(), [gw_peer], NetConfig::default()).unwrap();
        let h = s.handle.clone();
        strangers.push(s);
        let full = full.clone();
        tokio::spawn(async move {
            let _ = h.dial(full).await;
        });
    }
    for s in &strangers {
        let r = s
            .handle
            .request(gw_peer, Message::LeaseRequest(LeaseRequest { max_jobs: 1 }))
            .await;
        assert!(r.is_err(), "a stranger was served: {r:?}");
    }

    // The established-connection limit (2): two friends get in, the third is denied.
    let mut served = 0;
    let mut nets = Vec::new();
    for f in &friends {
        let n = Net::spawn(f, [gw_peer], NetConfig::default()).unwrap();
        let _ = n.handle.dial(full.clone()).await;
        let r = n
            .handle
            .request(gw_peer, Message::LeaseRequest(LeaseRequest { max_jobs: 1 }))
            .await;
        if matches!(r, Ok(Message::NoWork(_))) {
            served += 1;
        }
        nets.push(n);
    }
    assert_eq!(served, 2, "the connection limit did not hold");
    let info = gw_handle.info().await.unwrap();
    assert_eq!(info.connected.len(), 2, "{:?}", info.connected);
    // The first friends are still served after the flood.
    let r = nets[0]
        .handle
        .request(gw_peer, Message::LeaseRequest(LeaseRequest { max_jobs: 1 }))
        .await;
    assert!(matches!(r, Ok(Message::NoWork(_))), "{r:?}");
}
