// Cutting a run of characters off the end of a text in time linear in the run. A regular expression such as /x+$/
// tries the run from each of its characters when something follows it, quadratic in a caller's input (a long JSON
// number's zeros, a path's slashes, an answer's punctuation held the event loop for seconds).

/** The text without the characters it ends with that `drop` takes, compared a code point at a time from the end. */
export function withoutTrailing(text: string, drop: (char: string) => boolean): string {
  let end = text.length;
  while (end > 0) {
    const low = text.charCodeAt(end - 1);
    const size = low >= 0xdc00 && low <= 0xdfff && end > 1 && (text.charCodeAt(end - 2) & 0xfc00) === 0xd800 ? 2 : 1;
    if (!drop(text.slice(end - size, end))) break;
    end -= size;
  }
  return text.slice(0, end);
}
