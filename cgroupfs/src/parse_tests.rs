use super::*;

#[test]
fn single_values_and_limits() {
    assert_eq!(u64_value("4096\n"), Some(4096));
    assert_eq!(u64_value(""), None);
    assert_eq!(limit("max\n"), Some(Limit::Max));
    assert_eq!(limit("256\n"), Some(Limit::Value(256)));
    assert_eq!(limit("lots"), None);
}

#[test]
fn keyed_lines_become_a_map() {
    let map = keyed("anon 900\ninactive_file 500\nbogus x\n");
    assert_eq!(map.get("anon"), Some(&900));
    assert_eq!(map.get("inactive_file"), Some(&500));
    assert_eq!(map.get("bogus"), None);
}

#[test]
fn keyed_value_finds_oom_kill() {
    let c = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n";
    assert_eq!(keyed_value(c, "oom_kill"), Some(3));
    assert_eq!(keyed_value(c, "missing"), None);
}

#[test]
fn colon_values_of_proc_status() {
    let status = "Name:\tsh\nThreads:\t3\nThreadsX:\t9\n";
    assert_eq!(colon_value(status, "Threads"), Some(3));
    assert_eq!(colon_value(status, "Name"), None);
    assert_eq!(colon_value(status, "Missing"), None);
}

#[test]
fn io_stat_lines_per_device() {
    let got = io_stat("8:16 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\nbad\n");
    assert_eq!(
        got,
        vec![DeviceIo {
            major: 8,
            minor: 16,
            read_bytes: 10,
            write_bytes: 20,
            reads: 1,
            writes: 2,
        }]
    );
}

#[test]
fn blkio_merges_bytes_and_operations() {
    let bytes = "8:0 Read 100\n8:0 Write 200\n8:0 Total 300\n8:16 Read 5\nTotal 305\n";
    let ops = "8:0 Read 1\n8:0 Write 2\n";
    let got = blkio(bytes, ops);
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[0],
        DeviceIo {
            major: 8,
            minor: 0,
            read_bytes: 100,
            write_bytes: 200,
            reads: 1,
            writes: 2,
        }
    );
    assert_eq!((got[1].minor, got[1].read_bytes, got[1].reads), (16, 5, 0));
}

#[test]
fn hugetlb_usage_files_name_their_page_size() {
    assert_eq!(
        hugetlb_usage_size("hugetlb.2MB.usage_in_bytes", false),
        Some("2MB")
    );
    assert_eq!(hugetlb_usage_size("hugetlb.1GB.current", true), Some("1GB"));
    assert_eq!(hugetlb_usage_size("hugetlb.2MB.rsvd.current", true), None);
    assert_eq!(hugetlb_usage_size("hugetlb.2MB.max", true), None);
    assert_eq!(hugetlb_usage_size("memory.current", true), None);
}

#[test]
fn psi_some_and_full() {
    let text = "some avg10=0.50 avg60=1.00 avg300=2.00 total=1234\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=10\n";
    let p = psi(text).unwrap();
    assert_eq!(p.some.avg10, 0.5);
    assert_eq!(p.some.total_us, 1234);
    assert_eq!(p.full.map(|f| f.total_us), Some(10));
    let only_some = psi("some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n").unwrap();
    assert_eq!(only_some.full, None);
    assert_eq!(psi(""), None);
}
