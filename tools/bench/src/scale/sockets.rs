//! TCP connections a process holds to one port (the API server's), from
//! /proc: the process's socket inodes matched against the established
//! connections of /proc/<pid>/net/tcp and tcp6. Parsing is pure and tested.

use std::collections::HashSet;

/// Established connections of `pid` to remote `port`; 0 when unreadable.
pub fn connections_to(pid: u32, port: u16) -> usize {
    let mut inodes = HashSet::new();
    if let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
        for entry in entries.flatten() {
            if let Ok(target) = std::fs::read_link(entry.path())
                && let Some(inode) = target
                    .to_str()
                    .and_then(|t| t.strip_prefix("socket:["))
                    .and_then(|t| t.strip_suffix(']'))
                    .and_then(|t| t.parse::<u64>().ok())
            {
                inodes.insert(inode);
            }
        }
    }
    ["tcp", "tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).ok())
        .flat_map(|text| established_to(&text, port))
        .filter(|inode| inodes.contains(inode))
        .count()
}

/// Socket inodes of the established (state 01) connections to remote
/// `port` in a /proc/net/tcp table.
pub fn established_to(table: &str, port: u16) -> Vec<u64> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let remote = fields.get(2)?;
            let (_, remote_port) = remote.rsplit_once(':')?;
            let established = *fields.get(3)? == "01";
            let inode = fields.get(9)?.parse::<u64>().ok()?;
            (established && u16::from_str_radix(remote_port, 16).ok()? == port).then_some(inode)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_established_connections_to_the_port_count() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:A1B2 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 111 1 0 20 4 30 10 -1
   1: 0100007F:A1B3 0100007F:1F90 06 00000000:00000000 00:00000000 00000000     0        0 0 1 0 20 4 30 10 -1
   2: 0100007F:A1B4 0100007F:0050 01 00000000:00000000 00:00000000 00000000     0        0 222 1 0 20 4 30 10 -1
   3: 0100007F:1F90 0100007F:A1B5 01 00000000:00000000 00:00000000 00000000     0        0 333 1 0 20 4 30 10 -1";
        // 0x1F90 = 8080: row 0 is established to it, row 1 is TIME_WAIT,
        // row 2 goes to port 80, row 3 is the server side of a connection.
        assert_eq!(established_to(table, 8080), [111]);
    }
}
