// Graceful shutdown: SIGTERM/SIGINT -> /ready 503 at once, listeners keep accepting for
// drain_delay, then stop; open connections get drain_timeout; exit 0. A second signal exits at
// once. Timing windows are loose on purpose (sanitizer builds, loaded CI machines).

#include <gtest/gtest.h>
#include <signal.h>

#include <cerrno>

#include "integration/harness/harness.h"

namespace pilotfish::it {
namespace {

using namespace std::chrono_literals;

std::string yamlFor(uint16_t listen, uint16_t upstream, const std::string& drain) {
  return render(
      R"(workers: 2
${DRAIN}
clusters:
  - name: backend
    endpoints: [127.0.0.1:${UP}]
listeners:
  - {name: front, address: 127.0.0.1:${PORT}, protocol: tcp, cluster: backend}
)",
      {{"DRAIN", drain}, {"UP", std::to_string(upstream)}, {"PORT", std::to_string(listen)}});
}

// A connect attempt to the listener: 0 when accepted, else the errno (ECONNREFUSED once the
// listeners are closed).
int tryConnect(uint16_t port) {
  TcpClient c;
  return c.connect(port, 1s);
}

// ---------------------------------------------------------------------------------------------

TEST(Shutdown, SigtermFailsReadyAcceptsDuringDrainDelayThenRefuses) {
  TestServer echo(TestServer::Mode::kEcho);
  uint16_t port = freePort();
  Pilotfish pf(yamlFor(port, echo.port(), "drain_delay: 1s\ndrain_timeout: 5s"));

  TcpClient held;
  ASSERT_EQ(held.connect(port), 0);
  ASSERT_TRUE(held.echoRoundTrip("before"));

  auto t0 = Clock::now();
  pf.process().signal(SIGTERM);
  // /ready fails at once.
  HttpResponse r;
  ASSERT_TRUE(waitFor([&] { return (r = pf.get("/ready")).status == 503; }, 500ms))
      << "status " << r.status;
  EXPECT_LT(msSince(t0), 500);
  EXPECT_EQ(r.body, "draining\n");
  EXPECT_EQ(pf.metric("pilotfish_server_draining"), 1);
  EXPECT_EQ(pf.metric("pilotfish_server_ready"), 0);

  // Inside drain_delay, new connections are still accepted and proxied.
  ASSERT_LT(msSince(t0), 800) << "machine too slow to observe drain_delay";
  TcpClient during;
  ASSERT_EQ(during.connect(port), 0);
  EXPECT_TRUE(during.echoRoundTrip("during drain_delay"));
  EXPECT_LT(msSince(t0), 1000) << "the round trip above must have happened inside drain_delay";

  // After drain_delay, connecting is refused.
  int err = 0;
  ASSERT_TRUE(waitFor([&] { return (err = tryConnect(port)) == ECONNREFUSED; }, 4s))
      << "last connect result: " << std::strerror(err);
  double refused_at = msSince(t0);
  EXPECT_GE(refused_at, 900) << "listeners closed before drain_delay";
  EXPECT_LT(refused_at, 3000);

  // Open connections keep working (drain_timeout is 5s).
  EXPECT_TRUE(held.echoRoundTrip("after the listeners closed"));
  EXPECT_TRUE(during.echoRoundTrip("me too"));
  EXPECT_TRUE(pf.process().running());
  EXPECT_EQ(pf.get("/ready").status, 503);

  // When the last one closes, the process exits 0 without waiting for drain_timeout.
  held.close();
  during.close();
  auto t1 = Clock::now();
  auto st = pf.process().wait(4s);
  ASSERT_TRUE(st) << "still running 4s after the last connection closed";
  EXPECT_TRUE(st->exited && st->code == 0) << st->describe();
  EXPECT_LT(msSince(t1), 2000);
  EXPECT_LT(msSince(t0), 4000) << "exited only at drain_timeout";
}

TEST(Shutdown, DrainTimeoutClosesHeldConnectionAndExitsZero) {
  TestServer echo(TestServer::Mode::kEcho);
  uint16_t port = freePort();
  Pilotfish pf(yamlFor(port, echo.port(), "drain_delay: 1s\ndrain_timeout: 1s"));

  TcpClient held;
  ASSERT_EQ(held.connect(port), 0);
  ASSERT_TRUE(held.echoRoundTrip("hold me"));

  auto t0 = Clock::now();
  pf.process().signal(SIGTERM);
  // Wait until the listeners are closed (drain_delay over); the held connection still works
  // during drain_timeout.
  ASSERT_TRUE(waitFor([&] { return tryConnect(port) == ECONNREFUSED; }, 4s));
  if (msSince(t0) < 1700) {
    EXPECT_TRUE(held.echoRoundTrip("still here during drain_timeout"));
  }

  // At ~drain_delay + drain_timeout it is closed by force and the process exits 0.
  auto end = held.waitClosed(6s);
  double closed_at = msSince(t0);
  EXPECT_TRUE(end == ReadEnd::kEof || end == ReadEnd::kReset) << toString(end);
  EXPECT_GE(closed_at, 1800);
  EXPECT_LT(closed_at, 6000);

  auto st = pf.process().wait(6s);
  double exited_at = msSince(t0);
  ASSERT_TRUE(st) << "did not exit";
  EXPECT_TRUE(st->exited && st->code == 0) << st->describe();
  EXPECT_GE(exited_at, 1800);
  EXPECT_LT(exited_at, 6000);
  EXPECT_NE(pf.output().find("drain_timeout"), std::string::npos) << pf.output();
  // The upstream side was closed as well.
  EXPECT_TRUE(waitFor([&] { return echo.open() == 0; }, 3s));
}

TEST(Shutdown, NoOpenConnectionExitsRightAfterDrainDelay) {
  TestServer echo(TestServer::Mode::kEcho);
  uint16_t port = freePort();
  Pilotfish pf(yamlFor(port, echo.port(), "drain_delay: 1s\ndrain_timeout: 10s"));

  auto t0 = Clock::now();
  pf.process().signal(SIGTERM);
  auto st = pf.process().wait(5s);
  double exited_at = msSince(t0);
  ASSERT_TRUE(st) << "did not exit within 5s";
  EXPECT_TRUE(st->exited && st->code == 0) << st->describe();
  EXPECT_GE(exited_at, 900) << "did not honour drain_delay";
  EXPECT_LT(exited_at, 3000) << "waited for drain_timeout without any connection";
}

TEST(Shutdown, SigintWithDefaultsExitsPromptly) {
  TestServer echo(TestServer::Mode::kEcho);
  uint16_t port = freePort();
  // drain_delay defaults to 0s.
  Pilotfish pf(yamlFor(port, echo.port(), ""));
  auto t0 = Clock::now();
  pf.process().signal(SIGINT);
  auto st = pf.process().wait(3s);
  ASSERT_TRUE(st) << "did not exit within 3s";
  EXPECT_TRUE(st->exited && st->code == 0) << st->describe();
  EXPECT_LT(msSince(t0), 2000);
}

TEST(Shutdown, SecondSignalDuringDrainExitsAtOnce) {
  TestServer echo(TestServer::Mode::kEcho);
  uint16_t port = freePort();
  Pilotfish pf(yamlFor(port, echo.port(), "drain_delay: 5s\ndrain_timeout: 10s"));
  TcpClient held;
  ASSERT_EQ(held.connect(port), 0);
  ASSERT_TRUE(held.echoRoundTrip("x"));

  pf.process().signal(SIGTERM);
  ASSERT_TRUE(waitFor([&] { return pf.get("/ready").status == 503; }, 2s));
  auto t1 = Clock::now();
  pf.process().signal(SIGTERM);
  auto st = pf.process().wait(2s);
  ASSERT_TRUE(st) << "still running 2s after the second signal";
  EXPECT_LT(msSince(t1), 1000);
  EXPECT_FALSE(st->exited && st->code == 0) << "a forced exit must not report success";
  EXPECT_NE(held.waitClosed(2s), ReadEnd::kTimeout);
}

TEST(Shutdown, SighupIsRefusedWithAWarningAndChangesNothing) {
  // Many init scripts send SIGHUP to mean "reload". Its default action would kill the sidecar
  // with no drain; until reload exists it must leave the process serving as it was.
  TestServer echo(TestServer::Mode::kEcho);
  uint16_t port = freePort();
  Pilotfish pf(yamlFor(port, echo.port(), ""));
  TcpClient held;
  ASSERT_EQ(held.connect(port), 0);
  ASSERT_TRUE(held.echoRoundTrip("before"));

  pf.process().signal(SIGHUP);
  ASSERT_TRUE(waitFor([&] { return pf.output().find("SIGHUP") != std::string::npos; }, 5s))
      << pf.output();
  EXPECT_NE(pf.output().find("reload is not supported"), std::string::npos) << pf.output();
  EXPECT_TRUE(pf.process().running());
  EXPECT_EQ(pf.get("/ready").status, 200);
  EXPECT_EQ(pf.metric("pilotfish_server_draining"), 0);
  // The connection open before the signal still works, and new ones are accepted.
  EXPECT_TRUE(held.echoRoundTrip("after"));
  TcpClient fresh;
  ASSERT_EQ(fresh.connect(port), 0);
  EXPECT_TRUE(fresh.echoRoundTrip("new"));

  // SIGTERM still drains and exits 0 afterwards.
  pf.process().signal(SIGTERM);
  held.close();
  fresh.close();
  auto st = pf.process().wait(5s);
  ASSERT_TRUE(st) << "did not exit within 5s of SIGTERM";
  EXPECT_TRUE(st->exited && st->code == 0) << st->describe();
}

}  // namespace
}  // namespace pilotfish::it
