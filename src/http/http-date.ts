const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const DAY = '(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)';
const LONG_DAY = '(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)';
const MONTH = `(${MONTHS.join('|')})`;
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';
/** Sun, 06 Nov 1994 08:49:37 GMT (the one senders use). */
const IMF_FIXDATE = new RegExp(`^${DAY}, (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`);
/** Sunday, 06-Nov-94 08:49:37 GMT (obsolete). */
const RFC_850 = new RegExp(`^${LONG_DAY}, (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`);
/** Sun Nov  6 08:49:37 1994 (obsolete, and in UTC though it says nothing). */
const ASCTIME = new RegExp(`^${DAY} ${MONTH} ([ \\d]\\d) ${TIME} (\\d{4})$`);

/**
 * An HTTP-date (RFC 9110 §5.6.7) in milliseconds, or undefined for anything else, which a conditional request's date
 * field then counts as absent (§13.1.3, §13.1.4). Date.parse takes far more ("2030", "Feb 31" as March 3) and reads
 * the asctime form in the server's time zone, so a client's malformed date could earn a 304 for a changed file. No
 * library parses only these three forms; jshttp's `fresh` uses Date.parse.
 */
export function httpDate(value: string | undefined, now = new Date()): number | undefined {
  if (value === undefined) return undefined;
  let match = IMF_FIXDATE.exec(value);
  if (match) return utc(Number(match[3]), match[2], match[1], match.slice(4));
  match = RFC_850.exec(value);
  if (match) {
    const [, day, month, twoDigits, ...time] = match;
    const year = Math.floor(now.getUTCFullYear() / 100) * 100 + Number(twoDigits);
    const date = utc(year, month, day, time);
    // A date that would be more than 50 years ahead is in the most recent past year ending in those two digits.
    const fiftyYearsAhead = new Date(now).setUTCFullYear(now.getUTCFullYear() + 50);
    return date !== undefined && date > fiftyYearsAhead ? utc(year - 100, month, day, time) : date;
  }
  match = ASCTIME.exec(value);
  if (match) return utc(Number(match[6]), match[1], match[2].trim(), match.slice(3, 6));
  return undefined;
}

/**
 * The instant, if every part names one that exists (no 31 February, no hour 24). A leap second (23:59:60, which
 * §5.6.7 allows) is read as 23:59:59: JavaScript's clock has no such second, and Last-Modified never names one.
 */
function utc(year: number, month: string, day: string, [hours, minutes, seconds]: string[]): number | undefined {
  const leapSecond = hours === '23' && minutes === '59' && seconds === '60';
  const second = leapSecond ? 59 : Number(seconds);
  const parts = [year, MONTHS.indexOf(month), Number(day), Number(hours), Number(minutes), second] as const;
  const date = new Date(Date.UTC(...parts));
  const back = [
    date.getUTCFullYear(),
    date.getUTCMonth(),
    date.getUTCDate(),
    date.getUTCHours(),
    date.getUTCMinutes(),
    date.getUTCSeconds(),
  ];
  return back.every((part, index) => part === parts[index]) ? date.getTime() : undefined;
}
