// TimeZone: a small reader for TZif files (RFC 8536) and POSIX TZ rules, so
// the daemon never touches the process-wide TZ variable (setenv/tzset are not
// thread-safe). Civil-date arithmetic after Howard Hinnant's algorithms.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "triggers/cron.h"
#include "util/fs.h"

namespace slipway {

namespace {

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// Offsets are bounded by ±26 h in every zone; looking 27 h around a local
// time finds every transition that can affect it.
constexpr int64_t kWindow = 27 * 3600;

}  // namespace

bool IsLeapYear(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

int DaysInMonth(int year, int month) {
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && IsLeapYear(year) ? 29 : kDays[month - 1];
}

int64_t DaysFromCivil(int year, int month, int day) {
  int64_t y = static_cast<int64_t>(year) - (month <= 2);
  const int64_t era = FloorDiv(y, 400);
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

CivilTime CivilFromDays(int64_t days) {
  days += 719468;
  const int64_t era = FloorDiv(days, 146097);
  const int64_t doe = days - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  CivilTime c;
  c.day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  c.month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  c.year = static_cast<int>(yoe + era * 400 + (c.month <= 2));
  return c;
}

namespace {

CivilTime CivilFromSeconds(int64_t s) {
  int64_t days = FloorDiv(s, 86400);
  int64_t rem = s - days * 86400;
  CivilTime c = CivilFromDays(days);
  c.hour = static_cast<int>(rem / 3600);
  c.minute = static_cast<int>(rem / 60 % 60);
  c.second = static_cast<int>(rem % 60);
  return c;
}

int64_t SecondsFromCivil(const CivilTime& c) {
  return DaysFromCivil(c.year, c.month, c.day) * 86400 + c.hour * 3600 + c.minute * 60 + c.second;
}

// Day of week (0 = Sunday) of a day count since the epoch (a Thursday).
int WeekdayFromDays(int64_t days) { return static_cast<int>(((days % 7) + 11) % 7); }

struct LocalType {
  int32_t utoff = 0;
  bool isdst = false;
  std::string abbr;
};

// One end of a POSIX TZ DST rule: Jn, n or Mm.w.d, plus a local time.
struct PosixDate {
  enum Kind { kJulianNoLeap, kJulianZero, kMonthWeekDay } kind = kMonthWeekDay;
  int a = 0, b = 0, c = 0;  // n | n | m, w, d
  int32_t time = 7200;      // seconds after local midnight (may be negative or > 24 h in v3)
};

struct PosixRule {
  LocalType std_type;
  bool has_dst = false;
  LocalType dst_type;
  PosixDate start, end;
};

}  // namespace

struct TimeZone::Data {
  std::string name;
  std::vector<int64_t> transitions;  // ascending instants
  std::vector<uint8_t> transition_types;
  std::vector<LocalType> types;  // types[0] rules before the first transition
  bool has_rule = false;
  PosixRule rule;  // after the last transition

  LocalType TypeAt(int64_t t) const;
  // The next transition strictly after t, or INT64_MAX.
  int64_t NextTransition(int64_t t) const;
  // Rule transitions (UTC instants) of `year`: DST start and end.
  void RuleTransitions(int year, int64_t* start, int64_t* end) const;
};

namespace {

// Day of year (0-based) of a POSIX date in `year`.
int64_t PosixDateDays(const PosixDate& d, int year) {
  switch (d.kind) {
    case PosixDate::kJulianNoLeap: {  // 1..365, Feb 29 never counted
      int64_t doy = d.a - 1;
      if (IsLeapYear(year) && d.a >= 60) doy += 1;
      return DaysFromCivil(year, 1, 1) + doy;
    }
    case PosixDate::kJulianZero:  // 0..365, Feb 29 counted
      return DaysFromCivil(year, 1, 1) + d.a;
    case PosixDate::kMonthWeekDay: {
      int month = d.a, week = d.b, wday = d.c;
      int64_t first = DaysFromCivil(year, month, 1);
      int64_t day = first + ((wday - WeekdayFromDays(first)) + 7) % 7;
      day += 7 * (week - 1);
      int64_t last = first + DaysInMonth(year, month) - 1;
      while (day > last) day -= 7;  // week 5 = the last one
      return day;
    }
  }
  return 0;
}

class PosixParser {
 public:
  explicit PosixParser(std::string_view s) : s_(s) {}

  bool Parse(PosixRule* rule) {
    if (!Name(&rule->std_type.abbr)) return false;
    int32_t off;
    if (!Offset(&off)) return false;
    rule->std_type.utoff = -off;  // POSIX offsets count west
    if (pos_ == s_.size()) return true;
    rule->has_dst = true;
    if (!Name(&rule->dst_type.abbr)) return false;
    rule->dst_type.isdst = true;
    rule->dst_type.utoff = rule->std_type.utoff + 3600;
    if (pos_ < s_.size() && s_[pos_] != ',') {
      if (!Offset(&off)) return false;
      rule->dst_type.utoff = -off;
    }
    if (pos_ == s_.size()) {  // no rule given: the US rules of POSIX's default
      rule->start = {PosixDate::kMonthWeekDay, 3, 2, 0, 7200};
      rule->end = {PosixDate::kMonthWeekDay, 11, 1, 0, 7200};
      return true;
    }
    if (s_[pos_++] != ',' || !Date(&rule->start)) return false;
    if (pos_ >= s_.size() || s_[pos_++] != ',' || !Date(&rule->end)) return false;
    return pos_ == s_.size();
  }

 private:
  bool Name(std::string* out) {
    if (pos_ < s_.size() && s_[pos_] == '<') {
      size_t end = s_.find('>', pos_);
      if (end == std::string_view::npos) return false;
      *out = std::string(s_.substr(pos_ + 1, end - pos_ - 1));
      pos_ = end + 1;
      return !out->empty();
    }
    size_t start = pos_;
    while (pos_ < s_.size() && std::isalpha(static_cast<unsigned char>(s_[pos_]))) ++pos_;
    *out = std::string(s_.substr(start, pos_ - start));
    return out->size() >= 3;
  }
  bool Number(int* out, int max) {
    size_t start = pos_;
    int v = 0;
    while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_])) && pos_ - start < 4) {
      v = v * 10 + (s_[pos_++] - '0');
    }
    if (pos_ == start || v > max) return false;
    *out = v;
    return true;
  }
  // [+-]hh[:mm[:ss]] in seconds.
  bool Offset(int32_t* out) {
    int sign = 1;
    if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) sign = s_[pos_++] == '-' ? -1 : 1;
    int h = 0, m = 0, sec = 0;
    if (!Number(&h, 167)) return false;
    if (pos_ < s_.size() && s_[pos_] == ':') {
      ++pos_;
      if (!Number(&m, 59)) return false;
      if (pos_ < s_.size() && s_[pos_] == ':') {
        ++pos_;
        if (!Number(&sec, 59)) return false;
      }
    }
    *out = sign * (h * 3600 + m * 60 + sec);
    return true;
  }
  bool Date(PosixDate* d) {
    if (pos_ >= s_.size()) return false;
    if (s_[pos_] == 'M') {
      ++pos_;
      d->kind = PosixDate::kMonthWeekDay;
      if (!Number(&d->a, 12) || d->a < 1) return false;
      if (pos_ >= s_.size() || s_[pos_++] != '.' || !Number(&d->b, 5) || d->b < 1) return false;
      if (pos_ >= s_.size() || s_[pos_++] != '.' || !Number(&d->c, 6)) return false;
    } else if (s_[pos_] == 'J') {
      ++pos_;
      d->kind = PosixDate::kJulianNoLeap;
      if (!Number(&d->a, 365) || d->a < 1) return false;
    } else {
      d->kind = PosixDate::kJulianZero;
      if (!Number(&d->a, 365)) return false;
    }
    d->time = 7200;
    if (pos_ < s_.size() && s_[pos_] == '/') {
      ++pos_;
      if (!Offset(&d->time)) return false;
    }
    return true;
  }

  std::string_view s_;
  size_t pos_ = 0;
};

class Reader {
 public:
  explicit Reader(std::string_view b) : b_(b) {}
  bool Has(size_t n) const { return b_.size() - pos_ >= n; }
  int64_t Be(int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<uint8_t>(b_[pos_++]);
    if (bytes == 4) return static_cast<int32_t>(static_cast<uint32_t>(v));
    return static_cast<int64_t>(v);
  }
  uint8_t Byte() { return static_cast<uint8_t>(b_[pos_++]); }
  void Skip(size_t n) { pos_ += n; }
  size_t pos() const { return pos_; }
  std::string_view Rest() const { return b_.substr(pos_); }

 private:
  std::string_view b_;
  size_t pos_ = 0;
};

struct Counts {
  uint32_t isut, isstd, leap, time, type, chars;
};

bool ReadHeader(Reader* r, char* version, Counts* c) {
  if (!r->Has(44)) return false;
  std::string_view magic = r->Rest().substr(0, 4);
  if (magic != "TZif") return false;
  r->Skip(4);
  *version = static_cast<char>(r->Byte());
  r->Skip(15);
  c->isut = static_cast<uint32_t>(r->Be(4));
  c->isstd = static_cast<uint32_t>(r->Be(4));
  c->leap = static_cast<uint32_t>(r->Be(4));
  c->time = static_cast<uint32_t>(r->Be(4));
  c->type = static_cast<uint32_t>(r->Be(4));
  c->chars = static_cast<uint32_t>(r->Be(4));
  // RFC 8536 §3.2 bounds; generous but keeps sizes sane.
  return c->type >= 1 && c->type <= 256 && c->chars >= 1 && c->time <= 1'000'000 && c->leap <= 100'000 &&
         (c->isut == 0 || c->isut == c->type) && (c->isstd == 0 || c->isstd == c->type);
}

size_t BlockSize(const Counts& c, int time_size) {
  return static_cast<size_t>(c.time) * time_size + c.time + c.type * 6u + c.chars +
         static_cast<size_t>(c.leap) * (time_size + 4) + c.isstd + c.isut;
}

}  // namespace

LocalType TimeZone::Data::TypeAt(int64_t t) const {
  if (transitions.empty() || t < transitions.front()) {
    if (transitions.empty() && has_rule) {
      // Fall through to the rule.
    } else {
      return types[0];
    }
  }
  if (has_rule && (transitions.empty() || t >= transitions.back())) {
    if (!rule.has_dst) return rule.std_type;
    int year = CivilFromSeconds(t + rule.std_type.utoff).year;
    int64_t start, end;
    RuleTransitions(year, &start, &end);
    bool dst = start < end ? (t >= start && t < end) : !(t >= end && t < start);
    return dst ? rule.dst_type : rule.std_type;
  }
  auto it = std::upper_bound(transitions.begin(), transitions.end(), t);
  size_t index = static_cast<size_t>(it - transitions.begin()) - 1;
  return types[transition_types[index]];
}

void TimeZone::Data::RuleTransitions(int year, int64_t* start, int64_t* end) const {
  // The start time is given in standard time, the end time in DST.
  *start = PosixDateDays(rule.start, year) * 86400 + rule.start.time - rule.std_type.utoff;
  *end = PosixDateDays(rule.end, year) * 86400 + rule.end.time - rule.dst_type.utoff;
}

int64_t TimeZone::Data::NextTransition(int64_t t) const {
  auto it = std::upper_bound(transitions.begin(), transitions.end(), t);
  if (it != transitions.end()) return *it;
  if (!has_rule || !rule.has_dst) return INT64_MAX;
  int64_t floor = transitions.empty() ? INT64_MIN : transitions.back();
  int year = CivilFromSeconds(t).year;
  int64_t best = INT64_MAX;
  for (int y = year - 1; y <= year + 1; ++y) {
    int64_t start, end;
    RuleTransitions(y, &start, &end);
    for (int64_t x : {start, end}) {
      if (x > t && x > floor) best = std::min(best, x);
    }
  }
  return best;
}

TimeZone::TimeZone() = default;

Result<TimeZone> TimeZone::FromTzif(std::string_view name, std::string_view bytes) {
  auto bad = [&](const char* why) {
    return InvalidArgument("time zone '" + std::string(name) + "': not a valid TZif file (" + why + ")");
  };
  Reader r(bytes);
  char version;
  Counts c;
  if (!ReadHeader(&r, &version, &c)) return bad("bad header");
  int time_size = 4;
  if (version >= '2') {
    // Skip the 32-bit block; the 64-bit one follows with its own header.
    size_t v1 = BlockSize(c, 4);
    if (!r.Has(v1)) return bad("truncated");
    r.Skip(v1);
    char v2;
    if (!ReadHeader(&r, &v2, &c)) return bad("bad second header");
    time_size = 8;
  }
  if (!r.Has(BlockSize(c, time_size))) return bad("truncated");
  auto data = std::make_shared<Data>();
  data->name = std::string(name);
  data->transitions.resize(c.time);
  for (auto& t : data->transitions) t = r.Be(time_size);
  if (!std::is_sorted(data->transitions.begin(), data->transitions.end())) return bad("unsorted transitions");
  data->transition_types.resize(c.time);
  for (auto& t : data->transition_types) {
    t = r.Byte();
    if (t >= c.type) return bad("transition type out of range");
  }
  std::vector<uint8_t> abbr_index(c.type);
  data->types.resize(c.type);
  for (uint32_t i = 0; i < c.type; ++i) {
    data->types[i].utoff = static_cast<int32_t>(r.Be(4));
    data->types[i].isdst = r.Byte() != 0;
    abbr_index[i] = r.Byte();
    if (data->types[i].utoff < -26 * 3600 || data->types[i].utoff > 26 * 3600) return bad("offset out of range");
  }
  std::string_view chars = r.Rest().substr(0, c.chars);
  r.Skip(c.chars);
  for (uint32_t i = 0; i < c.type; ++i) {
    if (abbr_index[i] >= chars.size()) return bad("abbreviation out of range");
    std::string_view a = chars.substr(abbr_index[i]);
    data->types[i].abbr = std::string(a.substr(0, a.find('\0')));
  }
  r.Skip(static_cast<size_t>(c.leap) * (time_size + 4) + c.isstd + c.isut);
  if (version >= '2') {
    std::string_view rest = r.Rest();
    if (rest.size() >= 2 && rest[0] == '\n') {
      size_t end = rest.find('\n', 1);
      if (end == std::string_view::npos) return bad("unterminated footer");
      std::string_view footer = rest.substr(1, end - 1);
      if (!footer.empty()) {
        PosixParser parser(footer);
        if (!parser.Parse(&data->rule)) return bad("unsupported TZ rule");
        data->has_rule = true;
      }
    }
  }
  return TimeZone(std::move(data));
}

Result<TimeZone> TimeZone::Load(std::string_view name, const std::string& zoneinfo_dir) {
  if (name.empty() || name == "UTC" || name == "Etc/UTC" || name == "Z") return TimeZone();
  std::string n(name);
  bool ok = n.front() != '/' && n.find("..") == std::string::npos && n.size() < 128;
  for (char ch : n) {
    if (!std::isalnum(static_cast<unsigned char>(ch)) && std::strchr("_+-/", ch) == nullptr) ok = false;
  }
  if (!ok) {
    return InvalidArgument("invalid time zone name '" + n + "' (expected an IANA name such as 'Europe/Paris')");
  }
  std::string path = zoneinfo_dir + "/" + n;
  auto bytes = ReadFileLimited(path, 1 << 20);
  if (!bytes.ok()) {
    if (bytes.status().code() == StatusCode::kNotFound) {
      return NotFound("unknown time zone '" + n + "' (no file " + path + ")");
    }
    return Status(bytes.status().code(), "time zone '" + n + "': " + bytes.status().message());
  }
  return FromTzif(n, *bytes);
}

const std::string& TimeZone::name() const {
  static const std::string kUtc = "UTC";
  return data_ ? data_->name : kUtc;
}

int32_t TimeZone::UtcOffsetAt(int64_t epoch_s) const { return data_ ? data_->TypeAt(epoch_s).utoff : 0; }

std::string TimeZone::AbbreviationAt(int64_t epoch_s) const { return data_ ? data_->TypeAt(epoch_s).abbr : "UTC"; }

CivilTime TimeZone::ToCivil(int64_t epoch_s) const { return CivilFromSeconds(epoch_s + UtcOffsetAt(epoch_s)); }

TimeZone::LocalInstants TimeZone::FromCivil(const CivilTime& civil) const {
  const int64_t local = SecondsFromCivil(civil);
  if (!data_) return {Mapping::kUnique, local, local};
  // Every offset that may be in force near `local`: the one before the
  // window and the one after each transition inside it.
  std::vector<int32_t> offsets{UtcOffsetAt(local - kWindow)};
  std::vector<int64_t> window_transitions;
  for (int64_t t = data_->NextTransition(local - kWindow); t <= local + kWindow; t = data_->NextTransition(t)) {
    window_transitions.push_back(t);
    offsets.push_back(UtcOffsetAt(t));
  }
  std::vector<int64_t> solutions;
  for (int32_t off : offsets) {
    int64_t t = local - off;
    if (UtcOffsetAt(t) == off) solutions.push_back(t);
  }
  std::sort(solutions.begin(), solutions.end());
  solutions.erase(std::unique(solutions.begin(), solutions.end()), solutions.end());
  if (solutions.size() == 1) return {Mapping::kUnique, solutions[0], solutions[0]};
  if (solutions.size() >= 2) return {Mapping::kRepeated, solutions.front(), solutions[1]};
  // Skipped: the transition that jumped over `local`.
  for (int64_t t : window_transitions) {
    if (t - 1 + UtcOffsetAt(t - 1) < local && t + UtcOffsetAt(t) > local) return {Mapping::kSkipped, t, t};
  }
  // Cannot happen for consistent data; fall back to the earliest reading.
  int64_t t = local - offsets.front();
  return {Mapping::kUnique, t, t};
}

std::string TimeZone::Format(int64_t epoch_ms) const {
  int64_t s = FloorDiv(epoch_ms, 1000);
  int32_t off = UtcOffsetAt(s);
  CivilTime c = CivilFromSeconds(s + off);
  int32_t a = off < 0 ? -off : off;
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d", c.year, c.month, c.day, c.hour, c.minute,
                c.second, off < 0 ? '-' : '+', a / 3600, a / 60 % 60);
  return std::string(buf) + " " + AbbreviationAt(s);
}

}  // namespace slipway
