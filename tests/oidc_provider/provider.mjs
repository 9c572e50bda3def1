// A real OpenID Provider for ght's tests: panva/oidc-provider (OpenID Certified), on loopback.
//
//   node provider.mjs PORT ACCOUNTS.json
//
// Issuer http://127.0.0.1:PORT. Clients register themselves (Dynamic Client Registration,
// POST /reg). Accounts are read from ACCOUNTS.json at every look-up: {"login": {claims...}},
// so a test can add the professional it needs; the claims are those Pro Santé Connect sends
// (SubjectNameID, SubjectRefPro, ...) under its scope `scope_all`. The login page takes a
// login and no password: what the tests exercise is ght's side of the code flow.
import fs from 'node:fs';
import http from 'node:http';
import Provider from 'oidc-provider';

const [port, accountsFile] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;

function accounts() {
  return JSON.parse(fs.readFileSync(accountsFile, 'utf8'));
}

const provider = new Provider(issuer, {
  features: {
    devInteractions: { enabled: false },
    registration: { enabled: true },
  },
  scopes: ['openid', 'profile', 'scope_all'],
  claims: {
    openid: ['sub'],
    profile: ['family_name', 'given_name', 'preferred_username'],
    scope_all: ['SubjectNameID', 'SubjectRefPro', 'SubjectRole', 'SubjectOrganization'],
  },
  async findAccount(ctx, id) {
    const claims = accounts()[id];
    if (!claims) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...claims }; } };
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  cookies: { keys: ['ght-test-provider-cookie-key-0123456789'] },
});

function page(uid, error) {
  return `<!doctype html><html lang="fr"><body><h1>Fournisseur d'identité de test</h1>
${error ? `<p class="error">${error}</p>` : ''}
<form method="post" action="/interaction/${uid}/login">
<label for="login">Identifiant</label><input id="login" name="login" autofocus>
<button type="submit">Se connecter</button></form></body></html>`;
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

const callback = provider.callback();
const server = http.createServer(async (req, res) => {
  const match = new URL(req.url, issuer).pathname.match(/^\/interaction\/([^/]+)(\/login)?$/);
  if (!match) return callback(req, res);
  try {
    const details = await provider.interactionDetails(req, res);
    if (req.method === 'GET') {
      res.setHeader('Content-Type', 'text/html; charset=utf-8');
      return res.end(page(details.uid));
    }
    const login = (await readBody(req)).get('login');
    if (!accounts()[login]) {
      res.statusCode = 400;
      res.setHeader('Content-Type', 'text/html; charset=utf-8');
      return res.end(page(details.uid, 'Identifiant inconnu.'));
    }
    const grant = new provider.Grant({ accountId: login, clientId: details.params.client_id });
    grant.addOIDCScope(details.params.scope);
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { login: { accountId: login }, consent: { grantId } },
      { mergeWithLastSubmission: false });
  } catch (error) {
    res.statusCode = 500;
    res.end(String(error));
  }
});

server.listen(Number(port), '127.0.0.1', () => {
  process.stdout.write(`listening ${issuer}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
