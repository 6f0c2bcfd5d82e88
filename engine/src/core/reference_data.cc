#include "engine/reference_data.h"

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/text.h"
#include "engine/pricing.h"
#include "engine/validation.h"

namespace pricing::engine {
namespace {

// A validation failure: where (path, node) and what.
struct Fault {
  std::string path;
  int line = 0;  // 1-based; 0 when unknown
  std::string message;
};

using Check = std::expected<void, Fault>;
template <typename T>
using Checked = std::expected<T, Fault>;

int LineOf(const YAML::Node& node) {
  const YAML::Mark mark = node.Mark();
  return mark.is_null() ? 0 : mark.line + 1;
}

std::unexpected<Fault> FaultAt(std::string path, const YAML::Node& node, std::string message) {
  return std::unexpected(Fault{std::move(path), LineOf(node), std::move(message)});
}

// One mapping of a list, with its members checked against the allowed keys.
class Entry {
 public:
  // Returns the entry at `path` when `node` is a mapping whose keys are
  // scalars from `allowed`, each at most once.
  static Checked<Entry> Read(std::string path, const YAML::Node& node,
                             std::initializer_list<std::string_view> allowed) {
    if (!node.IsMap()) return FaultAt(path, node, "must be a mapping");
    Entry entry;
    entry.path_ = std::move(path);
    entry.node_ = node;
    for (auto it = node.begin(); it != node.end(); ++it) {
      const YAML::Node key = it->first;
      if (!key.IsScalar()) return FaultAt(entry.path_, key, "keys must be plain names");
      const std::string& name = key.Scalar();
      bool known = false;
      for (std::string_view a : allowed) known = known || a == name;
      if (!known) return FaultAt(entry.path_, key, "unknown key " + Quoted(name));
      for (const auto& [seen, value] : entry.members_) {
        if (seen == name) return FaultAt(entry.path_, key, "key " + Quoted(name) + " is repeated");
      }
      entry.members_.emplace_back(name, it->second);
    }
    return entry;
  }

  // Returns the scalar text of `key` when present and not null.
  Checked<std::optional<std::pair<std::string, YAML::Node>>> Optional(std::string_view key) const {
    for (const auto& [name, value] : members_) {
      if (name != key) continue;
      if (value.IsNull()) return std::nullopt;
      if (!value.IsScalar()) return FaultAt(Path(key), value, "must be a single value");
      return std::make_pair(value.Scalar(), value);
    }
    return std::nullopt;
  }

  // As Optional, but absence is a fault.
  Checked<std::pair<std::string, YAML::Node>> Required(std::string_view key) const {
    Checked<std::optional<std::pair<std::string, YAML::Node>>> v = Optional(key);
    if (!v) return std::unexpected(v.error());
    if (!*v) return FaultAt(Path(key), node_, "is required");
    return std::move(**v);
  }

  std::string Path(std::string_view key) const { return path_ + "." + std::string(key); }
  const YAML::Node& node() const { return node_; }

 private:
  std::string path_;
  YAML::Node node_;
  std::vector<std::pair<std::string, YAML::Node>> members_;
};

using Scalar = std::pair<std::string, YAML::Node>;

Checked<Decimal> DecimalIn(const Entry& e, std::string_view key, const Scalar& s, Decimal lo,
                           Decimal hi, std::string_view range_text) {
  const std::optional<Decimal> v = Decimal::Parse(s.first);
  if (!v) return FaultAt(e.Path(key), s.second, "must be a decimal number such as 0.05");
  if (*v < lo || *v > hi)
    return FaultAt(e.Path(key), s.second, "must be " + std::string(range_text));
  return *v;
}

Checked<int64_t> IntegerIn(const Entry& e, std::string_view key, const Scalar& s, int64_t lo,
                           int64_t hi) {
  const std::string range =
      "must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi);
  const std::string& text = s.first;
  if (text.empty() || text.size() > 18) return FaultAt(e.Path(key), s.second, range);
  int64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return FaultAt(e.Path(key), s.second, range);
    v = v * 10 + (c - '0');
  }
  if (v < lo || v > hi) return FaultAt(e.Path(key), s.second, range);
  return v;
}

Checked<std::string> TickerOf(const Entry& e, const Scalar& s) {
  Result<std::string> ticker = ValidateTicker(s.first);
  if (!ticker) {
    return FaultAt(e.Path("ticker"), s.second,
                   "must be a letter followed by at most 9 letters, digits or '.'");
  }
  return *ticker;
}

Checked<std::string> ClientIdOf(const Entry& e, const Scalar& s) {
  if (!IsValidClientId(s.first)) {
    return FaultAt(e.Path("client_id"), s.second,
                   "must be 3 to 50 characters, each a letter, digit, '_' or '-'");
  }
  return s.first;
}

bool IsPrintableAscii(std::string_view s, bool allow_space) {
  for (char c : s) {
    if (c < (allow_space ? 0x20 : 0x21) || c > 0x7E) return false;
  }
  return true;
}

// The T-or-return-fault idiom: assigns the value of `expr` to `var` or
// returns its fault from the enclosing function.
#define ASSIGN_OR_RETURN(var, expr)                                  \
  auto var##_checked = (expr);                                       \
  if (!var##_checked) return std::unexpected(var##_checked.error()); \
  auto var = std::move(*var##_checked)

Checked<Stock> ReadStock(const Entry& e) {
  Stock stock;
  ASSIGN_OR_RETURN(ticker, e.Required("ticker"));
  ASSIGN_OR_RETURN(valid_ticker, TickerOf(e, ticker));
  stock.ticker = std::move(valid_ticker);
  ASSIGN_OR_RETURN(status, e.Required("borrow_status"));
  const std::optional<BorrowStatus> parsed = ParseBorrowStatus(status.first);
  if (!parsed)
    return FaultAt(e.Path("borrow_status"), status.second, "must be EASY, MEDIUM or HARD");
  stock.borrow_status = *parsed;
  ASSIGN_OR_RETURN(min_rate, e.Required("min_borrow_rate"));
  ASSIGN_OR_RETURN(rate, DecimalIn(e, "min_borrow_rate", min_rate, Decimal(), kMaxBorrowRate,
                                   "from 0 to 10 (an annual fraction: 0.05 = 5 %)"));
  stock.min_borrow_rate = rate;
  ASSIGN_OR_RETURN(lender_id, e.Optional("lender_api_id"));
  if (lender_id) {
    if (lender_id->first.empty() || lender_id->first.size() > 64 ||
        !IsPrintableAscii(lender_id->first, /*allow_space=*/false)) {
      return FaultAt(e.Path("lender_api_id"), lender_id->second,
                     "must be 1 to 64 printable characters without spaces");
    }
    stock.lender_api_id = lender_id->first;
  }
  return stock;
}

Checked<Broker> ReadBroker(const Entry& e) {
  Broker broker;
  ASSIGN_OR_RETURN(client, e.Required("client_id"));
  ASSIGN_OR_RETURN(client_id, ClientIdOf(e, client));
  broker.client_id = std::move(client_id);
  ASSIGN_OR_RETURN(markup_text, e.Required("markup_percentage"));
  ASSIGN_OR_RETURN(markup,
                   DecimalIn(e, "markup_percentage", markup_text, Decimal(), kMaxMarkupPercentage,
                             "from 0 to 1000 (a percent: 5.0 = 5 %)"));
  broker.markup_percentage = markup;
  ASSIGN_OR_RETURN(fee_type, e.Required("transaction_fee_type"));
  const std::optional<FeeType> type = ParseFeeType(fee_type.first);
  if (!type)
    return FaultAt(e.Path("transaction_fee_type"), fee_type.second, "must be FLAT or PERCENTAGE");
  broker.transaction_fee_type = *type;
  ASSIGN_OR_RETURN(amount_text, e.Required("transaction_amount"));
  const bool flat = *type == FeeType::kFlat;
  ASSIGN_OR_RETURN(amount, DecimalIn(e, "transaction_amount", amount_text, Decimal(),
                                     flat ? kMaxFlatFee : kMaxPercentageFee,
                                     flat ? "from 0 to 1000000000 (USD)"
                                          : "from 0 to 100 (a percent of the position)"));
  broker.transaction_amount = amount;
  ASSIGN_OR_RETURN(day_count, e.Optional("day_count"));
  if (day_count) {
    if (day_count->first != "360" && day_count->first != "365") {
      return FaultAt(e.Path("day_count"), day_count->second, "must be 360 or 365");
    }
    broker.day_count = day_count->first == "360" ? 360 : 365;
  }
  return broker;
}

Checked<VolatilityRow> ReadVolatility(const Entry& e) {
  VolatilityRow row;
  ASSIGN_OR_RETURN(ticker, e.Required("ticker"));
  ASSIGN_OR_RETURN(valid_ticker, TickerOf(e, ticker));
  row.ticker = std::move(valid_ticker);
  ASSIGN_OR_RETURN(vol_index, e.Optional("vol_index"));
  if (vol_index) {
    ASSIGN_OR_RETURN(
        v, DecimalIn(e, "vol_index", *vol_index, Decimal(), kMaxVolatilityIndex, "from 0 to 1000"));
    row.vol_index = v;
  }
  ASSIGN_OR_RETURN(event_risk, e.Optional("event_risk_factor"));
  if (event_risk) {
    ASSIGN_OR_RETURN(v, IntegerIn(e, "event_risk_factor", *event_risk, 0, kMaxEventRisk));
    row.event_risk_factor = static_cast<int>(v);
  }
  return row;
}

Checked<ApiKeySeed> ReadApiKey(const Entry& e) {
  ApiKeySeed key;
  ASSIGN_OR_RETURN(key_text, e.Required("key"));
  if (key_text.first.size() < 8 || key_text.first.size() > 256 ||
      !IsPrintableAscii(key_text.first, /*allow_space=*/false)) {
    return FaultAt(e.Path("key"), key_text.second,
                   "must be 8 to 256 printable characters without spaces");
  }
  key.key = key_text.first;
  ASSIGN_OR_RETURN(limit, e.Required("rate_limit_per_minute"));
  ASSIGN_OR_RETURN(limit_value, IntegerIn(e, "rate_limit_per_minute", limit, 1, 1000000000));
  key.rate_limit_per_minute = limit_value;
  ASSIGN_OR_RETURN(scope, e.Optional("scope"));
  if (scope) {
    const std::optional<KeyScope> parsed = ParseKeyScope(scope->first);
    if (!parsed) return FaultAt(e.Path("scope"), scope->second, "must be client or internal");
    key.scope = *parsed;
  }
  ASSIGN_OR_RETURN(client, e.Optional("client_id"));
  if (client) {
    ASSIGN_OR_RETURN(client_id, ClientIdOf(e, *client));
    key.client_id = std::move(client_id);
  } else if (key.scope == KeyScope::kClient) {
    return FaultAt(e.Path("client_id"), e.node(), "is required for a client key");
  }
  return key;
}

// Calls `read` on each mapping of the list under `name` (absent or null: no
// entries) and appends the results to `*out`; `id` returns an entry's unique
// identity for the duplicate check, `id_key` names it in messages.
template <typename T, typename ReadFn, typename IdFn>
Check ReadList(const YAML::Node& root, const std::string& name,
               std::initializer_list<std::string_view> allowed, std::string_view id_key,
               ReadFn read, IdFn id, std::vector<T>* out) {
  const YAML::Node list = root[name];
  if (!list.IsDefined() || list.IsNull()) return {};
  if (!list.IsSequence()) return FaultAt(name, list, "must be a list");
  std::set<std::string> seen;
  for (size_t i = 0; i < list.size(); ++i) {
    const YAML::Node item = list[i];
    const std::string path = name + "[" + std::to_string(i) + "]";
    ASSIGN_OR_RETURN(entry, Entry::Read(path, item, allowed));
    ASSIGN_OR_RETURN(value, read(entry));
    const std::string identity = id(value);
    if (!seen.insert(identity).second) {
      const bool secret = id_key == "key";
      return FaultAt(entry.Path(id_key), item,
                     secret ? std::string("repeats an earlier key")
                            : "repeats " + Quoted(identity) + " of an earlier entry");
    }
    out->push_back(std::move(value));
  }
  return {};
}

Check ReadAll(const YAML::Node& root, ReferenceData* data) {
  if (!root.IsDefined() || root.IsNull()) return {};
  if (!root.IsMap()) {
    return FaultAt("(top level)", root,
                   "must be a mapping with the keys stocks, brokers, volatility, api_keys");
  }
  ASSIGN_OR_RETURN(
      top, Entry::Read("(top level)", root, {"stocks", "brokers", "volatility", "api_keys"}));
  (void)top;
  if (Check c = ReadList(
          root, "stocks", {"ticker", "borrow_status", "min_borrow_rate", "lender_api_id"}, "ticker",
          ReadStock, [](const Stock& s) { return s.ticker; }, &data->stocks);
      !c) {
    return c;
  }
  if (Check c = ReadList(
          root, "brokers",
          {"client_id", "markup_percentage", "transaction_fee_type", "transaction_amount",
           "day_count"},
          "client_id", ReadBroker, [](const Broker& b) { return b.client_id; }, &data->brokers);
      !c) {
    return c;
  }
  if (Check c = ReadList(
          root, "volatility", {"ticker", "vol_index", "event_risk_factor"}, "ticker",
          ReadVolatility, [](const VolatilityRow& v) { return v.ticker; }, &data->volatility);
      !c) {
    return c;
  }
  if (Check c = ReadList(
          root, "api_keys", {"key", "client_id", "rate_limit_per_minute", "scope"}, "key",
          ReadApiKey, [](const ApiKeySeed& k) { return k.key; }, &data->api_keys);
      !c) {
    return c;
  }

  // References resolve within the file.
  std::set<std::string> tickers;
  for (const Stock& s : data->stocks) tickers.insert(s.ticker);
  std::set<std::string> clients;
  for (const Broker& b : data->brokers) clients.insert(b.client_id);
  for (size_t i = 0; i < data->volatility.size(); ++i) {
    if (!tickers.contains(data->volatility[i].ticker)) {
      return FaultAt("volatility[" + std::to_string(i) + "].ticker",
                     root["volatility"][i]["ticker"],
                     Quoted(data->volatility[i].ticker) + " is not a stock of this file");
    }
  }
  for (size_t i = 0; i < data->api_keys.size(); ++i) {
    const ApiKeySeed& k = data->api_keys[i];
    if (k.scope == KeyScope::kClient && !clients.contains(k.client_id)) {
      return FaultAt("api_keys[" + std::to_string(i) + "].client_id",
                     root["api_keys"][i]["client_id"],
                     Quoted(k.client_id) + " is not a broker of this file");
    }
  }
  return {};
}

#undef ASSIGN_OR_RETURN

}  // namespace

Result<ReferenceData> ParseReferenceData(std::string_view yaml_text, std::string_view source_name) {
  const std::string source(source_name);
  ReferenceData data;
  try {
    const YAML::Node root = YAML::Load(std::string(yaml_text));
    if (Check c = ReadAll(root, &data); !c) {
      const Fault& f = c.error();
      std::string message = source + ": " + f.path + ": " + f.message;
      if (f.line > 0) message += " (line " + std::to_string(f.line) + ")";
      return Fail(ErrorCode::kInvalidParameter, std::move(message), f.path);
    }
  } catch (const YAML::Exception& ex) {
    std::string message = source + ": ";
    if (!ex.mark.is_null()) {
      message += "line " + std::to_string(ex.mark.line + 1) + ", column " +
                 std::to_string(ex.mark.column + 1) + ": ";
    }
    message += ex.msg;
    return Fail(ErrorCode::kInvalidParameter, std::move(message));
  }
  return data;
}

}  // namespace pricing::engine
