#include "op/host_allowlist.h"

#include <gtest/gtest.h>

namespace pricing::op {
namespace {

HostAllowList Allow(std::vector<std::string> entries) {
  Result<HostAllowList> list = HostAllowList::Parse(entries);
  EXPECT_TRUE(list.has_value()) << (list ? "" : list.error().message);
  return list ? *list : HostAllowList();
}

TEST(HostAllowList, EmptyAllowsNothing) {
  const HostAllowList none = Allow({});
  EXPECT_TRUE(none.empty());
  for (const char* host : {"localhost", "kubernetes.default.svc", "metadata.google.internal"}) {
    EXPECT_FALSE(none.AllowsName(host)) << host;
  }
  for (const char* ip : {"127.0.0.1", "169.254.169.254", "10.96.0.1", "::1"}) {
    EXPECT_FALSE(none.AllowsAddress(ip)) << ip;
  }
}

TEST(HostAllowList, NamesAreExactAndDomainsCoverWhatIsBelowThem) {
  const HostAllowList list = Allow({"Market.Example.com, .feeds.example.com"});
  EXPECT_TRUE(list.AllowsName("market.example.com"));
  EXPECT_TRUE(list.AllowsName("MARKET.example.COM"));
  EXPECT_FALSE(list.AllowsName("evil-market.example.com"));
  EXPECT_FALSE(list.AllowsName("market.example.com.evil.net"));
  EXPECT_TRUE(list.AllowsName("vix.feeds.example.com"));
  EXPECT_TRUE(list.AllowsName("a.b.feeds.example.com"));
  EXPECT_FALSE(list.AllowsName("feeds.example.com"));  // the domain itself is not below it
  EXPECT_FALSE(list.AllowsName("evilfeeds.example.com"));
}

TEST(HostAllowList, NetworksMatchAddressesOfTheirFamilyOnly) {
  const HostAllowList list = Allow({"10.20.0.0/16", "192.0.2.7", "fd00::/8"});
  EXPECT_TRUE(list.AllowsAddress("10.20.255.1"));
  EXPECT_FALSE(list.AllowsAddress("10.21.0.1"));
  EXPECT_TRUE(list.AllowsAddress("192.0.2.7"));
  EXPECT_FALSE(list.AllowsAddress("192.0.2.8"));
  EXPECT_TRUE(list.AllowsAddress("fd12::1"));
  EXPECT_FALSE(list.AllowsAddress("fe80::1"));
  // An IPv4 address written as IPv6 is not let through by an IPv4 network.
  EXPECT_FALSE(list.AllowsAddress("::ffff:10.20.0.1"));
  EXPECT_FALSE(list.AllowsAddress("10.20.0.1.example.com"));
  EXPECT_FALSE(list.AllowsName("10.20.0.1"));
  EXPECT_TRUE(Allow({"0.0.0.0/0"}).AllowsAddress("169.254.169.254"));
}

TEST(HostAllowList, BadEntriesAreNamed) {
  for (const auto& [entry, why] : std::vector<std::pair<std::string, std::string>>{
           {"10.0.0.0/33", "has a prefix length that is not 0..32"},
           {"fd00::/129", "has a prefix length that is not 0..128"},
           {"10.0.0.0/x", "has a prefix length that is not 0..32"},
           {"host/8", "is neither a host name, a .domain nor an address/prefix"},
           {"http://market.example.com", "is neither a host name, a .domain nor an address/prefix"},
           {"*.example.com", "is neither a host name, a .domain nor an address/prefix"},
           {"bad..name", "is neither a host name, a .domain nor an address/prefix"}}) {
    Result<HostAllowList> list = HostAllowList::Parse({"ok.example.com," + entry});
    ASSERT_FALSE(list.has_value()) << entry;
    EXPECT_EQ(list.error().message, "--volatility-allow: \"" + entry + "\" " + why);
  }
}

}  // namespace
}  // namespace pricing::op
