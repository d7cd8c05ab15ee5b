// Cron expressions: parsing (with errors naming the field and the value) and
// the search for the next fire time on a time zone's wall clock.
#include "triggers/cron.h"

#include <cctype>
#include <optional>
#include <vector>

#include "util/strings.h"

namespace slipway {

namespace {

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

struct FieldSpec {
  const char* name;
  int min;
  int max;
  const char* const* names;  // names[i] is the value min+i... or null
  int names_base;            // value of names[0]
  int names_count;
};

const char* const kMonthNames[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
const char* const kDayNames[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

const FieldSpec kFields[5] = {
    {"minute", 0, 59, nullptr, 0, 0},       {"hour", 0, 23, nullptr, 0, 0},
    {"day-of-month", 1, 31, nullptr, 0, 0}, {"month", 1, 12, kMonthNames, 1, 12},
    {"day-of-week", 0, 7, kDayNames, 0, 7},
};

struct Macro {
  const char* name;
  const char* expansion;
};
const Macro kMacros[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"}, {"@weekly", "0 0 * * 0"},
    {"@daily", "0 0 * * *"},  {"@midnight", "0 0 * * *"}, {"@hourly", "0 * * * *"},
};

class FieldParser {
 public:
  FieldParser(const std::string& expr, const FieldSpec& spec, std::string_view text)
      : expr_(expr), spec_(spec), text_(text) {}

  // Sets bits [min..max] of the field in *bits (a vector<bool> indexed by value).
  Status Parse(std::vector<bool>* bits) {
    bits->assign(spec_.max + 1, false);
    if (text_.empty()) return Error("is empty");
    for (const std::string& element : Split(text_, ',')) {
      if (element.empty()) return Error("has an empty list element");
      SLIPWAY_RETURN_IF_ERROR(ParseElement(element, bits));
    }
    return Status::Ok();
  }

 private:
  Status Error(const std::string& what) const {
    return InvalidArgument("cron '" + expr_ + "': " + spec_.name + " '" + std::string(text_) + "' " + what);
  }

  Status Value(std::string_view token, int* out) const {
    if (token.empty()) return Error("has an empty value");
    if (std::isdigit(static_cast<unsigned char>(token[0]))) {
      if (token.size() > 3) return Error("value '" + std::string(token) + "' is out of range " + Range());
      int v = 0;
      for (char c : token) {
        if (!std::isdigit(static_cast<unsigned char>(c))) {
          return Error("value '" + std::string(token) + "' is not a number");
        }
        v = v * 10 + (c - '0');
      }
      if (v < spec_.min || v > spec_.max) {
        return Error("value " + std::to_string(v) + " is out of range " + Range());
      }
      *out = v;
      return Status::Ok();
    }
    if (spec_.names != nullptr) {
      std::string upper(token);
      for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      std::vector<std::string> candidates;
      for (int i = 0; i < spec_.names_count; ++i) {
        if (upper == spec_.names[i]) {
          *out = spec_.names_base + i;
          return Status::Ok();
        }
        candidates.emplace_back(spec_.names[i]);
      }
      return Error("has unknown name '" + std::string(token) + "' (expected " + Range() + ")" +
                   DidYouMeanHint(upper, candidates));
    }
    return Error("value '" + std::string(token) + "' is not a number");
  }

  std::string Range() const {
    std::string r = std::to_string(spec_.min) + "-" + std::to_string(spec_.max);
    if (spec_.names != nullptr) {
      r += " or " + std::string(spec_.names[0]) + "-" + spec_.names[spec_.names_count - 1];
    }
    return r;
  }

  Status ParseElement(std::string_view element, std::vector<bool>* bits) const {
    std::string_view base = element;
    int step = 1;
    bool has_step = false;
    if (size_t slash = element.find('/'); slash != std::string_view::npos) {
      base = element.substr(0, slash);
      std::string_view step_text = element.substr(slash + 1);
      if (step_text.empty() || step_text.size() > 3 ||
          step_text.find_first_not_of("0123456789") != std::string_view::npos) {
        return Error("has a bad step '" + std::string(step_text) + "' (expected a number)");
      }
      step = std::stoi(std::string(step_text));
      if (step < 1) return Error("has step 0 (a step must be at least 1)");
      has_step = true;
    }
    int lo, hi;
    if (base == "*") {
      lo = spec_.min;
      hi = spec_.max;
      if (spec_.names == kDayNames) hi = 6;  // 7 is Sunday again; */2 must not hit Sunday twice
    } else if (size_t dash = base.find('-'); dash != std::string_view::npos) {
      SLIPWAY_RETURN_IF_ERROR(Value(base.substr(0, dash), &lo));
      SLIPWAY_RETURN_IF_ERROR(Value(base.substr(dash + 1), &hi));
      if (lo > hi) {
        return Error("has a backwards range '" + std::string(base) + "' (write the smaller value first)");
      }
    } else {
      SLIPWAY_RETURN_IF_ERROR(Value(base, &lo));
      // "5/15" means 5-max/15 (as Quartz and many crons read it).
      hi = has_step ? spec_.max : lo;
    }
    for (int v = lo; v <= hi; v += step) (*bits)[v] = true;
    return Status::Ok();
  }

  const std::string& expr_;
  const FieldSpec& spec_;
  std::string_view text_;
};

}  // namespace

Result<CronSchedule> ParseCron(std::string_view input) {
  std::string text(Trim(input));
  std::string expr = text;
  if (!text.empty() && text[0] == '@') {
    std::string lower = ToLower(text);
    const char* expansion = nullptr;
    std::vector<std::string> names;
    for (const Macro& m : kMacros) {
      if (lower == m.name) expansion = m.expansion;
      names.emplace_back(m.name);
    }
    if (expansion == nullptr) {
      return InvalidArgument("cron '" + text + "': unknown macro '" + text + "'" + DidYouMeanHint(lower, names) +
                             (lower == "@reboot" ? " (@reboot is not supported: use catch_up: true)" : ""));
    }
    expr = expansion;
  }
  std::vector<std::string> fields;
  for (const std::string& f : Split(expr, ' ')) {
    // Tabs and runs of spaces separate fields too.
    for (const std::string& g : Split(f, '\t')) {
      if (!g.empty()) fields.push_back(g);
    }
  }
  if (fields.size() != 5) {
    return InvalidArgument("cron '" + text + "': expected 5 fields (minute hour day-of-month month day-of-week), got " +
                           std::to_string(fields.size()));
  }
  CronSchedule s;
  s.text_ = text;
  std::vector<bool> bits[5];
  for (int i = 0; i < 5; ++i) {
    SLIPWAY_RETURN_IF_ERROR(FieldParser(text, kFields[i], fields[i]).Parse(&bits[i]));
  }
  for (int v = 0; v < 60; ++v) s.minutes_[v] = bits[0][v];
  for (int v = 0; v < 24; ++v) s.hours_[v] = bits[1][v];
  for (int v = 1; v <= 31; ++v) s.days_of_month_[v] = bits[2][v];
  for (int v = 1; v <= 12; ++v) s.months_[v] = bits[3][v];
  for (int v = 0; v < 7; ++v) s.days_of_week_[v] = bits[4][v];
  if (bits[4][7]) s.days_of_week_[0] = true;  // 7 = Sunday
  // Vixie cron's rule: a field whose text begins with '*' is unrestricted.
  s.dom_restricted_ = fields[2][0] != '*';
  s.dow_restricted_ = fields[4][0] != '*';

  // With the AND rule (day-of-week not restricted), a day-of-month that no
  // selected month has would never fire: refuse it rather than wait forever.
  if (!(s.dom_restricted_ && s.dow_restricted_)) {
    bool possible = false;
    for (int m = 1; m <= 12 && !possible; ++m) {
      if (!s.months_[m]) continue;
      for (int d = 1; d <= DaysInMonth(2000, m); ++d) possible |= s.days_of_month_[d];
    }
    if (!possible) {
      std::string months;
      for (int m = 1; m <= 12; ++m) {
        if (s.months_[m]) months += std::string(months.empty() ? "" : ",") + kMonthNames[m - 1];
      }
      return InvalidArgument("cron '" + text + "': day-of-month " + fields[2] + " never occurs in " + months);
    }
  }
  return s;
}

namespace {

// Long enough for the rarest date a parsed schedule can ask for: Feb 29 on a
// given weekday recurs every 28 years.
constexpr int64_t kSearchDays = 366 * 29;

}  // namespace

// The first local minute (minutes since the local epoch) >= from that the
// fields match, or nullopt when none within kSearchDays.
std::optional<int64_t> CronSchedule::NextLocalMinute(int64_t from) const {
  int64_t day = FloorDiv(from, 1440);
  int minute_of_day = static_cast<int>(from - day * 1440);
  const int64_t last_day = day + kSearchDays;
  while (day <= last_day) {
    CivilTime c = CivilFromDays(day);
    if (!months_[c.month]) {
      // Jump to the first day of the next month.
      int y = c.year, m = c.month + 1;
      if (m > 12) m = 1, ++y;
      day = DaysFromCivil(y, m, 1);
      minute_of_day = 0;
      continue;
    }
    bool dom_ok = days_of_month_[c.day];
    bool dow_ok = days_of_week_[static_cast<int>(((day % 7) + 11) % 7)];  // day 0 was a Thursday
    bool day_ok = dom_restricted_ && dow_restricted_ ? (dom_ok || dow_ok) : (dom_ok && dow_ok);
    if (day_ok) {
      for (int h = minute_of_day / 60; h < 24; ++h) {
        if (!hours_[h]) continue;
        int first = h == minute_of_day / 60 ? minute_of_day % 60 : 0;
        for (int m = first; m < 60; ++m) {
          if (minutes_[m]) return day * 1440 + h * 60 + m;
        }
      }
    }
    ++day;
    minute_of_day = 0;
  }
  return std::nullopt;
}

int64_t CronSchedule::Next(int64_t after_epoch_ms, const TimeZone& tz) const {
  const int64_t after_s = FloorDiv(after_epoch_ms, 1000);
  const int64_t local_s = after_s + tz.UtcOffsetAt(after_s);
  // Every wall-clock time before local_s maps to an instant <= after (the
  // local-to-instant mapping below is monotonic), so the search starts at the
  // next local minute and walks forward until an instant lies after `after`.
  int64_t from = FloorDiv(local_s, 60) + 1;
  const int64_t limit = from + kSearchDays * 1440;
  while (from <= limit) {
    auto minute = NextLocalMinute(from);
    if (!minute) return kNever;
    int64_t days = FloorDiv(*minute, 1440);
    CivilTime c = CivilFromDays(days);
    int64_t mod = *minute - days * 1440;
    c.hour = static_cast<int>(mod / 60);
    c.minute = static_cast<int>(mod % 60);
    // kRepeated: the first occurrence; kSkipped: the end of the gap.
    int64_t instant_s = tz.FromCivil(c).first;
    if (instant_s * 1000 > after_epoch_ms) return instant_s * 1000;
    from = *minute + 1;
  }
  return kNever;
}

bool CronSchedule::MissedSince(int64_t last_fire_ms, int64_t now_ms, const TimeZone& tz) const {
  if (last_fire_ms <= 0 || now_ms <= last_fire_ms) return false;
  return Next(last_fire_ms, tz) <= now_ms;
}

}  // namespace slipway
