// A fetch that records what the SDK asked and what it got, passing every
// call on to the real fetch (and so to the real server).
export function recordingFetch(inner = fetch) {
  const calls = [];
  const f = async (url, init = {}) => {
    const call = { method: init.method ?? 'GET', url: String(url), body: init.body, headers: init.headers ?? {} };
    calls.push(call);
    try {
      const res = await inner(url, init);
      call.status = res.status;
      return res;
    } catch (e) {
      call.error = e;
      throw e;
    }
  };
  return { fetch: f, calls };
}
