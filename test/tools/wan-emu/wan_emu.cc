// wan-emu — a user-space WAN link between two network namespaces, for tests and the bench.
//
// It attaches to one TUN device in namespace A and one in namespace B (persistent devices
// made beforehand, see test/tools/wan.ts) and forwards every IP packet between them through
// a model of a bottleneck link, independently per direction (a->b and b->a):
//
//   read from TUN -> drop-tail queue (limit in ms of link time) -> serialization at the
//   bottleneck rate -> random loss "on the wire" -> one-way delay (+ optional jitter) ->
//   write to the other TUN
//
// The queue is kept in virtual time (`busy_until`: when the bottleneck will have sent
// everything accepted so far), so the rate and the queue delay are exact whatever the
// scheduling; the wake-up precision only decides how bursty the delivery is (timerfd with
// 1 ns timer slack, then a short spin). Counters per direction are printed as one JSON line
// on stdout: every --stats-interval-ms, on SIGUSR1, and at exit (SIGTERM/SIGINT) with
// "final":true. The first stdout line is {"ready":true,...} once both devices are attached.
//
// Test tool only: not part of the addon or the core. Usage and flags: --help, and
// docs/TESTING.md "WAN emulator".
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <queue>
#include <string>
#include <vector>

namespace {

uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

[[noreturn]] void Die(const std::string& msg) {
  fprintf(stderr, "wan-emu: %s\n", msg.c_str());
  exit(2);
}

const char kUsage[] =
    "usage: wan-emu --dev-a NAME [--ns-a NETNS] --dev-b NAME [--ns-b NETNS] [options]\n"
    "  Forwards IP packets between two TUN devices (persistent, made with `ip tuntap add`)\n"
    "  through a bottleneck model. A bare option sets both directions; -ab/-ba one of them\n"
    "  (a->b is traffic read from dev-a and written to dev-b).\n"
    "  --rate BITS[k|M|G]     bottleneck rate, bits of IP packet per second (0 = unlimited; default 0)\n"
    "  --delay MS             one-way delay (fractional ms allowed; default 0)\n"
    "  --loss PCT             random loss after the bottleneck, percent (default 0)\n"
    "  --queue-ms MS          drop-tail queue limit in ms of link time (default 50)\n"
    "  --jitter MS            extra delay, uniform in [0, MS] per packet (default 0)\n"
    "  --reorder              let jittered packets overtake each other (default: FIFO)\n"
    "  --seed N               random seed (default 1)\n"
    "  --stats-interval-ms N  print a stats line every N ms (0 = only on SIGUSR1 and at exit; default 0)\n"
    "  --spin-us N            busy-wait this long before a departure instead of sleeping (default 20)\n"
    "  --max-packets N        packets held at most per direction (default 1000000)\n";

// Parses "1G", "2.5G", "100M", "800k", "1000000" as bits per second.
double ParseRate(const char* flag, const char* text) {
  char* end = nullptr;
  double v = strtod(text, &end);
  if (end == text || v < 0) Die(std::string(flag) + ": expected a rate like 1G or 100M, got '" + text + "'");
  std::string unit(end);
  if (unit == "" ) return v;
  if (unit == "k" || unit == "K") return v * 1e3;
  if (unit == "m" || unit == "M") return v * 1e6;
  if (unit == "g" || unit == "G") return v * 1e9;
  Die(std::string(flag) + ": unknown unit '" + unit + "' (k, M or G)");
}

double ParseNumber(const char* flag, const char* text, double min, double max) {
  char* end = nullptr;
  double v = strtod(text, &end);
  if (end == text || *end != '\0' || !(v >= min && v <= max)) {
    Die(std::string(flag) + ": expected a number in [" + std::to_string(min) + ", " + std::to_string(max) + "], got '" + text + "'");
  }
  return v;
}

struct DirConfig {
  double rate_bps = 0;       // 0 = unlimited
  double delay_ms = 0;
  double loss_pct = 0;
  double queue_ms = 50;
  double jitter_ms = 0;
  bool reorder = false;
};

struct Packet {
  uint64_t due_ns;
  uint64_t seq;
  uint32_t slot;
  uint32_t len;
  bool operator>(const Packet& o) const { return due_ns != o.due_ns ? due_ns > o.due_ns : seq > o.seq; }
};

uint64_t g_rng = 1;
uint64_t NextRandom() {  // splitmix64
  uint64_t z = (g_rng += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
double Uniform01() { return double(NextRandom() >> 11) * (1.0 / 9007199254740992.0); }

// One direction of the link: its model state, the packets in flight and its counters.
struct Direction {
  const char* name;
  DirConfig cfg;
  int in_fd = -1;   // read side
  int out_fd = -1;  // write side
  size_t slot_size = 0;
  size_t max_packets = 0;
  std::vector<std::unique_ptr<uint8_t[]>> slots;
  std::vector<uint32_t> free_slots;
  std::priority_queue<Packet, std::vector<Packet>, std::greater<Packet>> in_flight;
  uint64_t busy_until_ns = 0;  // virtual time the bottleneck has sent everything accepted
  uint64_t last_due_ns = 0;    // FIFO clamp when !reorder
  uint64_t seq = 0;
  // Counters.
  uint64_t rx_packets = 0, rx_bytes = 0;
  uint64_t accepted_bytes = 0;  // taken into the queue (not drop-tail dropped)
  uint64_t forwarded_packets = 0, forwarded_bytes = 0;
  uint64_t lost_packets = 0;           // random loss
  uint64_t queue_dropped_packets = 0;  // drop-tail (queue full, or --max-packets)
  uint64_t write_errors = 0;
  uint64_t queue_delay_peak_ns = 0;
  uint64_t queue_delay_last_ns = 0;

  uint32_t TakeSlot() {
    if (free_slots.empty()) {
      slots.emplace_back(new uint8_t[slot_size]);
      return uint32_t(slots.size() - 1);
    }
    uint32_t s = free_slots.back();
    free_slots.pop_back();
    return s;
  }

  // Reads what the device has (at most `budget` packets). Returns packets read.
  int ReadSome(uint64_t now, int budget) {
    int n = 0;
    for (; n < budget; n++) {
      if (in_flight.size() >= max_packets) {
        // Hold nothing more: read into a scratch slot and count it as a queue drop.
        static std::vector<uint8_t> scratch(65536);
        ssize_t r = read(in_fd, scratch.data(), scratch.size());
        if (r <= 0) break;
        rx_packets++, rx_bytes += size_t(r), queue_dropped_packets++;
        continue;
      }
      uint32_t slot = TakeSlot();
      ssize_t r = read(in_fd, slots[slot].get(), slot_size);
      if (r <= 0) {
        free_slots.push_back(slot);
        if (r < 0 && errno != EAGAIN && errno != EINTR) Die(std::string("read ") + name + ": " + strerror(errno));
        break;
      }
      Accept(now, slot, uint32_t(r));
    }
    return n;
  }

  void Accept(uint64_t now, uint32_t slot, uint32_t len) {
    rx_packets++, rx_bytes += len;
    uint64_t backlog = busy_until_ns > now ? busy_until_ns - now : 0;
    if (cfg.rate_bps > 0) {
      if (double(backlog) > cfg.queue_ms * 1e6) {
        queue_dropped_packets++;
        free_slots.push_back(slot);
        return;
      }
      busy_until_ns = std::max(busy_until_ns, now) + uint64_t(double(len) * 8e9 / cfg.rate_bps);
      accepted_bytes += len;
      queue_delay_last_ns = backlog;
      queue_delay_peak_ns = std::max(queue_delay_peak_ns, backlog);
    } else {
      busy_until_ns = now;
      accepted_bytes += len;
    }
    if (cfg.loss_pct > 0 && Uniform01() * 100.0 < cfg.loss_pct) {
      lost_packets++;
      free_slots.push_back(slot);
      return;
    }
    uint64_t due = busy_until_ns + uint64_t(cfg.delay_ms * 1e6);
    if (cfg.jitter_ms > 0) due += uint64_t(Uniform01() * cfg.jitter_ms * 1e6);
    if (!cfg.reorder) due = std::max(due, last_due_ns);
    last_due_ns = due;
    in_flight.push(Packet{due, seq++, slot, len});
  }

  // Writes every packet due by `now`.
  void Deliver(uint64_t now) {
    while (!in_flight.empty() && in_flight.top().due_ns <= now) {
      Packet p = in_flight.top();
      in_flight.pop();
      ssize_t w = write(out_fd, slots[p.slot].get(), p.len);
      if (w == ssize_t(p.len)) {
        forwarded_packets++, forwarded_bytes += p.len;
      } else {
        write_errors++;
      }
      free_slots.push_back(p.slot);
    }
  }

  uint64_t NextDue() const { return in_flight.empty() ? UINT64_MAX : in_flight.top().due_ns; }

  std::string Json(uint64_t now) const {
    uint64_t backlog = busy_until_ns > now ? busy_until_ns - now : 0;
    // Bytes the bottleneck has finished sending by now (lost ones included): its output.
    uint64_t queued_bytes = cfg.rate_bps > 0 ? uint64_t(double(backlog) * cfg.rate_bps / 8e9) : 0;
    uint64_t link_bytes = accepted_bytes > queued_bytes ? accepted_bytes - queued_bytes : 0;
    char buf[700];
    snprintf(buf, sizeof buf,
             "{\"rx_packets\":%llu,\"rx_bytes\":%llu,\"link_bytes\":%llu,\"forwarded_packets\":%llu,\"forwarded_bytes\":%llu,"
             "\"lost_packets\":%llu,\"queue_dropped_packets\":%llu,\"write_errors\":%llu,"
             "\"queue_delay_us\":%.1f,\"queue_delay_peak_us\":%.1f,\"in_flight_packets\":%zu}",
             (unsigned long long)rx_packets, (unsigned long long)rx_bytes, (unsigned long long)link_bytes,
             (unsigned long long)forwarded_packets,
             (unsigned long long)forwarded_bytes, (unsigned long long)lost_packets,
             (unsigned long long)queue_dropped_packets, (unsigned long long)write_errors, backlog / 1e3,
             queue_delay_peak_ns / 1e3, in_flight.size());
    return buf;
  }
};

// Enters a named network namespace (as `ip netns` keeps them) for this thread.
void EnterNetns(const std::string& ns) {
  std::string path = ns.find('/') == std::string::npos ? "/var/run/netns/" + ns : ns;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) Die("cannot open network namespace " + path + ": " + strerror(errno));
  if (setns(fd, CLONE_NEWNET) != 0) Die("setns " + path + ": " + strerror(errno));
  close(fd);
}

// Attaches to TUN device `dev` in the current namespace; returns the fd and its MTU.
int AttachTun(const std::string& dev, int* mtu) {
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) Die(std::string("open /dev/net/tun: ") + strerror(errno));
  ifreq ifr{};
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  if (dev.size() >= IFNAMSIZ) Die("device name too long: " + dev);
  memcpy(ifr.ifr_name, dev.c_str(), dev.size());
  if (ioctl(fd, TUNSETIFF, &ifr) != 0) Die("TUNSETIFF " + dev + ": " + strerror(errno) + " (make it first: ip tuntap add dev " + dev + " mode tun)");
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ifreq q{};
  memcpy(q.ifr_name, dev.c_str(), dev.size());
  *mtu = (s >= 0 && ioctl(s, SIOCGIFMTU, &q) == 0) ? q.ifr_mtu : 65535;
  if (s >= 0) close(s);
  return fd;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dev_a, dev_b, ns_a, ns_b;
  DirConfig ab, ba;
  uint64_t stats_interval_ms = 0;
  uint64_t spin_ns = 20000;
  size_t max_packets = 1000000;
  uint64_t seed = 1;
  for (int i = 1; i < argc; i++) {
    std::string f = argv[i];
    if (f == "--help" || f == "-h") {
      fputs(kUsage, stdout);
      return 0;
    }
    if (f == "--reorder") { ab.reorder = ba.reorder = true; continue; }
    if (f == "--reorder-ab") { ab.reorder = true; continue; }
    if (f == "--reorder-ba") { ba.reorder = true; continue; }
    if (i + 1 >= argc) Die(f + " needs a value\n" + kUsage);
    const char* v = argv[++i];
    // Per-direction flags: bare = both, -ab / -ba = one.
    auto per_dir = [&](const std::string& base, auto set) -> bool {
      if (f == "--" + base) { set(ab), set(ba); return true; }
      if (f == "--" + base + "-ab") { set(ab); return true; }
      if (f == "--" + base + "-ba") { set(ba); return true; }
      return false;
    };
    const char* fl = argv[i - 1];
    if (per_dir("rate", [&](DirConfig& d) { d.rate_bps = ParseRate(fl, v); })) continue;
    if (per_dir("delay", [&](DirConfig& d) { d.delay_ms = ParseNumber(fl, v, 0, 10000); })) continue;
    if (per_dir("loss", [&](DirConfig& d) { d.loss_pct = ParseNumber(fl, v, 0, 100); })) continue;
    if (per_dir("queue-ms", [&](DirConfig& d) { d.queue_ms = ParseNumber(fl, v, 0, 10000); })) continue;
    if (per_dir("jitter", [&](DirConfig& d) { d.jitter_ms = ParseNumber(fl, v, 0, 10000); })) continue;
    if (f == "--dev-a") dev_a = v;
    else if (f == "--dev-b") dev_b = v;
    else if (f == "--ns-a") ns_a = v;
    else if (f == "--ns-b") ns_b = v;
    else if (f == "--seed") seed = uint64_t(ParseNumber(fl, v, 0, 1e15));
    else if (f == "--stats-interval-ms") stats_interval_ms = uint64_t(ParseNumber(fl, v, 0, 3.6e6));
    else if (f == "--spin-us") spin_ns = uint64_t(ParseNumber(fl, v, 0, 1e6) * 1000);
    else if (f == "--max-packets") max_packets = size_t(ParseNumber(fl, v, 1, 1e8));
    else Die("unknown option '" + f + "'\n" + kUsage);
  }
  if (dev_a.empty() || dev_b.empty()) Die(std::string("--dev-a and --dev-b are required\n") + kUsage);
  g_rng = seed;

  // Attach both devices; the fds keep working after we leave their namespaces.
  int self_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  int mtu_a = 0, mtu_b = 0;
  if (!ns_a.empty()) EnterNetns(ns_a);
  int fd_a = AttachTun(dev_a, &mtu_a);
  if (self_ns >= 0) setns(self_ns, CLONE_NEWNET);
  if (!ns_b.empty()) EnterNetns(ns_b);
  int fd_b = AttachTun(dev_b, &mtu_b);
  if (self_ns >= 0) setns(self_ns, CLONE_NEWNET), close(self_ns);

  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);  // timerfd wake-ups to the microsecond

  Direction dirs[2];
  dirs[0].name = "ab", dirs[0].cfg = ab, dirs[0].in_fd = fd_a, dirs[0].out_fd = fd_b;
  dirs[1].name = "ba", dirs[1].cfg = ba, dirs[1].in_fd = fd_b, dirs[1].out_fd = fd_a;
  for (auto& d : dirs) {
    d.slot_size = size_t(std::max({mtu_a, mtu_b, 1500})) + 64;
    d.max_packets = max_packets;
  }

  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGUSR1), sigaddset(&mask, SIGTERM), sigaddset(&mask, SIGINT), sigaddset(&mask, SIGHUP);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  int sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  int timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (sig_fd < 0 || timer_fd < 0 || ep < 0) Die(std::string("setup: ") + strerror(errno));
  for (int fd : {fd_a, fd_b, sig_fd, timer_fd}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) Die(std::string("epoll_ctl: ") + strerror(errno));
  }

  const uint64_t t0 = NowNs();
  auto print_stats = [&](bool final) {
    uint64_t now = NowNs();
    printf("{\"t_ms\":%.3f,%s\"ab\":%s,\"ba\":%s}\n", (now - t0) / 1e6, final ? "\"final\":true," : "",
           dirs[0].Json(now).c_str(), dirs[1].Json(now).c_str());
    fflush(stdout);
  };
  printf("{\"ready\":true,\"mtu_a\":%d,\"mtu_b\":%d}\n", mtu_a, mtu_b);
  fflush(stdout);

  uint64_t next_stats = stats_interval_ms ? t0 + stats_interval_ms * 1000000ull : UINT64_MAX;
  uint64_t armed_for = 0;
  bool running = true;
  constexpr int kReadBudget = 64;  // per device per turn, so departures are not starved
  while (running) {
    uint64_t now = NowNs();
    for (auto& d : dirs) d.Deliver(now);
    if (now >= next_stats) {
      print_stats(false);
      next_stats += stats_interval_ms * 1000000ull;
      if (next_stats <= now) next_stats = now + stats_interval_ms * 1000000ull;
    }
    uint64_t next = std::min({dirs[0].NextDue(), dirs[1].NextDue(), next_stats});
    int timeout_ms = -1;
    if (next != UINT64_MAX) {
      if (next <= now + spin_ns) {
        timeout_ms = 0;  // spin: poll the devices without sleeping
      } else {
        uint64_t wake = next - spin_ns;
        if (wake != armed_for) {
          itimerspec its{};
          its.it_value.tv_sec = time_t(wake / 1000000000ull);
          its.it_value.tv_nsec = long(wake % 1000000000ull);
          timerfd_settime(timer_fd, TFD_TIMER_ABSTIME, &its, nullptr);
          armed_for = wake;
        }
      }
    }
    epoll_event evs[8];
    int n = epoll_wait(ep, evs, 8, timeout_ms);
    if (n < 0 && errno != EINTR) Die(std::string("epoll_wait: ") + strerror(errno));
    now = NowNs();
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd == fd_a) dirs[0].ReadSome(now, kReadBudget);
      else if (fd == fd_b) dirs[1].ReadSome(now, kReadBudget);
      else if (fd == timer_fd) {
        uint64_t expirations;
        while (read(timer_fd, &expirations, sizeof expirations) > 0) {}
        armed_for = 0;
      } else if (fd == sig_fd) {
        signalfd_siginfo si;
        while (read(sig_fd, &si, sizeof si) == ssize_t(sizeof si)) {
          if (si.ssi_signo == SIGUSR1) print_stats(false);
          else running = false;
        }
      }
    }
  }
  print_stats(true);
  return 0;
}
