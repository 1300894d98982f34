// The bearer-token check in front of TF Serving and TorchServe (nginx njs, js_set).
//
// The token is the Secret tandem-serving-token, mounted at /etc/tandem-auth/token. It is read on
// every request (a small file in the page cache), so rotating the Secret reaches every replica
// within the kubelet's sync period, without a restart. Compared as SHA-256 digests, so the
// comparison's time says nothing about the token. A missing or short token refuses everything.
import fs from 'fs';
import crypto from 'crypto';

const TOKEN_FILE = '/etc/tandem-auth/token';
const MIN_LENGTH = 32;

function digest(text) {
    return crypto.createHash('sha256').update(text).digest('hex');
}

function authorized(r) {
    let token;
    try {
        token = fs.readFileSync(TOKEN_FILE, 'utf8').trim();
    } catch (e) {
        r.error(`tandem auth: cannot read ${TOKEN_FILE}: ${e}`);
        return '0';
    }
    if (token.length < MIN_LENGTH) {
        r.error(`tandem auth: the token in ${TOKEN_FILE} is shorter than ${MIN_LENGTH} characters`);
        return '0';
    }
    const header = r.headersIn['Authorization'] || '';
    return digest(header) === digest(`Bearer ${token}`) ? '1' : '0';
}

export default { authorized };
