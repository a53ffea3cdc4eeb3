// A local OpenID Provider for tests and `tandem up`: node-oidc-provider (OpenID Certified), with a
// login page that checks passwords against the users of a JSON config file.
//
//   node deploy/oidc/server.mjs config.json      (or OIDC_CONFIG=config.json node deploy/oidc/server.mjs)
//
// config: {issuer, port, host?, clients: [{client_id, client_secret, redirect_uris,
//          post_logout_redirect_uris?, application_type?, token_endpoint_auth_method?}], users: {login: {password, name, email, groups}}}
//
// Authorization code flow only, PKCE (S256) required for every client, scopes `openid profile email
// groups`, the user's claims (groups included) in both the ID token and userinfo. Keys, cookie keys and
// every token live in memory: a restart signs everybody out, which is what a test provider should do.
// Logs go to stdout and carry ids only (client id, account id, interaction id), never a password.

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';

import Provider, { errors } from 'oidc-provider';

function log(message) {
  process.stdout.write(`${new Date().toISOString()} oidc ${message}\n`);
}

function fail(message) {
  process.stderr.write(`oidc: ${message}\n`);
  process.exit(2);
}

function readConfig() {
  const path = process.argv[2] || process.env.OIDC_CONFIG;
  if (!path) fail('usage: node server.mjs <config.json> (or set OIDC_CONFIG)');
  let config;
  try {
    config = JSON.parse(fs.readFileSync(path, 'utf8'));
  } catch (error) {
    fail(`cannot read the config file ${path}: ${error.message}`);
  }
  if (typeof config.issuer !== 'string' || !config.issuer) fail('config: "issuer" (a URL) is required');
  if (!Number.isInteger(config.port) || config.port <= 0) fail('config: "port" (an integer) is required');
  if (!Array.isArray(config.clients) || config.clients.length === 0) fail('config: "clients" (a non-empty list) is required');
  config.clients.forEach((client, i) => {
    for (const field of ['client_id', 'client_secret']) {
      if (typeof client[field] !== 'string' || !client[field]) fail(`config: clients[${i}].${field} is required`);
    }
    if (!Array.isArray(client.redirect_uris) || client.redirect_uris.length === 0) {
      fail(`config: clients[${i}].redirect_uris (a non-empty list) is required`);
    }
  });
  if (typeof config.users !== 'object' || config.users === null || Array.isArray(config.users)) {
    fail('config: "users" (an object keyed by login) is required');
  }
  for (const [login, user] of Object.entries(config.users)) {
    if (typeof user.password !== 'string' || !user.password) fail(`config: users.${login}.password is required`);
    if (user.groups !== undefined && !Array.isArray(user.groups)) fail(`config: users.${login}.groups must be a list`);
  }
  return config;
}

const config = readConfig();
const users = new Map(Object.entries(config.users));

// Equal-time comparison of digests, so a wrong password's length or prefix does not show in timing.
function passwordMatches(user, password) {
  const digest = (text) => crypto.createHash('sha256').update(String(text)).digest();
  return user !== undefined && crypto.timingSafeEqual(digest(user.password), digest(password));
}

function signingKey() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: crypto.randomUUID(), use: 'sig', alg: 'RS256' };
}

const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (c) => ({
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
}[c]));

// Self-contained pages (no external fonts or scripts: tests run without internet).
function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:24rem;margin:3rem auto;padding:0 1rem}
label{display:block;margin-top:1rem}input{width:100%;padding:.4rem;box-sizing:border-box}
button{margin-top:1rem;padding:.5rem 1rem}.error{color:#a00}</style></head>
<body><h1>${escapeHtml(title)}</h1>${body}</body></html>`;
}

// Someone already signed in who starts a new sign-in with a native client (RFC 8252: those always ask).
function confirmPage(uid, clientId) {
  return page('Continue', `
<p>Continue to ${escapeHtml(clientId)}?</p>
<form method="post" action="/interaction/${escapeHtml(uid)}/confirm"><button type="submit" autofocus>Continue</button></form>`);
}

function loginPage(uid, { login = '', error = '' } = {}) {
  return page('Sign in', `
${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/interaction/${escapeHtml(uid)}/login" autocomplete="off">
<label for="login">Login</label><input id="login" name="login" value="${escapeHtml(login)}" required autofocus>
<label for="password">Password</label><input id="password" name="password" type="password" required>
<button type="submit">Sign in</button>
</form>`);
}

const provider = new Provider(config.issuer, {
  clients: config.clients.map((client) => ({
    client_id: client.client_id,
    client_secret: client.client_secret,
    redirect_uris: client.redirect_uris,
    post_logout_redirect_uris: client.post_logout_redirect_uris ?? [],
    // "native" lets a loopback redirect URI match on any port (RFC 8252 section 7.3).
    application_type: client.application_type ?? 'web',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: client.token_endpoint_auth_method ?? 'client_secret_basic',
    id_token_signed_response_alg: 'RS256',
  })),
  jwks: { keys: config.jwks?.keys ?? [signingKey()] },
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  responseTypes: ['code'],
  clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
  scopes: ['openid', 'profile', 'email', 'groups'],
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    email: ['email', 'email_verified'],
    groups: ['groups'],
  },
  // The scopes' claims go into the ID token too, not only to userinfo (the RP reads groups from it).
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: false }, // they accept any password; the login page below checks it
    rpInitiatedLogout: {
      enabled: true,
      logoutSource: async (ctx, form) => {
        ctx.body = page('Sign out', `${form}<button autofocus type="submit" form="op.logoutForm" value="yes" name="logout">Sign me out</button>
<button type="submit" form="op.logoutForm">Stay signed in</button>`);
      },
      postLogoutSuccessSource: async (ctx) => {
        ctx.body = page('Signed out', '<p>You are signed out.</p>');
      },
    },
  },
  interactions: { url: async (ctx, interaction) => `/interaction/${interaction.uid}` },
  findAccount: async (ctx, sub) => {
    const user = users.get(sub);
    if (user === undefined) return undefined;
    return {
      accountId: sub,
      claims: async () => ({
        sub,
        preferred_username: sub,
        name: user.name ?? sub,
        email: user.email,
        email_verified: user.email !== undefined,
        groups: user.groups ?? [],
      }),
    };
  },
  renderError: async (ctx, out) => {
    ctx.type = 'html';
    ctx.body = page('Sign-in error', Object.entries(out)
      .map(([key, value]) => `<p><strong>${escapeHtml(key)}</strong>: ${escapeHtml(value)}</p>`).join(''));
  },
  ttl: {
    AuthorizationCode: 60,
    AccessToken: 600,
    IdToken: 600,
    Interaction: 600,
    Session: 3600,
    Grant: 3600,
  },
});

provider.on('server_error', (ctx, error) => log(`server_error ${error.name}: ${error.message}`));
provider.on('authorization.error', (ctx, error) => log(`authorization refused: ${error.error} (${error.error_description ?? ''})`));
provider.on('grant.error', (ctx, error) => log(`token request refused: ${error.error} (${error.error_description ?? ''})`));
provider.on('grant.success', (ctx) => log(`tokens issued client=${ctx.oidc.client?.clientId}`));
provider.on('end_session.success', (ctx) => log(`signed out client=${ctx.oidc.client?.clientId ?? '-'}`));

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 16 * 1024) throw new errors.InvalidRequest('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function send(res, status, html) {
  res.writeHead(status, {
    'Content-Type': 'text/html; charset=utf-8',
    'Cache-Control': 'no-store',
    'X-Frame-Options': 'DENY',
    'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
  });
  res.end(html);
}

// Every configured client is first-party: signing in grants it the supported scopes, without a consent
// page (the scopes it gets are the ones it asked for, among these).
async function grantAll(details, accountId) {
  let grant = details.grantId ? await provider.Grant.find(details.grantId) : undefined;
  if (grant === undefined || grant.accountId !== accountId) {
    grant = new provider.Grant({ accountId, clientId: details.params.client_id });
  }
  grant.addOIDCScope('openid profile email groups');
  return grant.save();
}

// GET /interaction/:uid shows the login form (or, signed in already, a "continue" button);
// POST /interaction/:uid/login checks the password, POST /interaction/:uid/confirm continues.
async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  const prompt = details.prompt.name;
  if (details.uid !== uid) {
    send(res, 400, page('Sign-in error', '<p>This sign-in page does not belong to this browser session.</p>'));
  } else if (req.method === 'GET' && action === undefined) {
    send(res, 200, prompt === 'login' ? loginPage(uid) : confirmPage(uid, details.params.client_id));
  } else if (req.method === 'POST' && action === 'login' && prompt === 'login') {
    const form = await readForm(req);
    const login = form.get('login') ?? '';
    const user = users.get(login);
    if (!passwordMatches(user, form.get('password') ?? '')) {
      log(`login refused interaction=${uid} client=${details.params.client_id}`);
      send(res, 200, loginPage(uid, { login, error: 'Unknown login or wrong password.' }));
      return;
    }
    log(`login accepted interaction=${uid} client=${details.params.client_id} account=${login}`);
    const grantId = await grantAll(details, login);
    await provider.interactionFinished(req, res, { login: { accountId: login }, consent: { grantId } },
      { mergeWithLastSubmission: false });
  } else if (req.method === 'POST' && action === 'confirm' && prompt === 'consent') {
    const grantId = await grantAll(details, details.session.accountId);
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  } else {
    send(res, 400, page('Sign-in error', '<p>This step does not belong to this sign-in. Start again from the application.</p>'));
  }
}

const providerCallback = provider.callback();
const INTERACTION = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|confirm))?\/?$/;

const server = http.createServer(async (req, res) => {
  const path = new URL(req.url, 'http://local').pathname;
  const match = INTERACTION.exec(path);
  if (!match) {
    providerCallback(req, res);
    return;
  }
  try {
    await interaction(req, res, match[1], match[2]);
  } catch (error) {
    if (error instanceof errors.SessionNotFound || error instanceof errors.InvalidRequest) {
      send(res, 400, page('Sign-in error', '<p>This sign-in has expired or is invalid. Start again from the application.</p>'));
    } else {
      log(`interaction error ${error.name}: ${error.message}`);
      if (!res.headersSent) send(res, 500, page('Sign-in error', '<p>Something went wrong.</p>'));
    }
  }
});

// Static clients are checked when first used; check them now, so a bad one stops the start.
for (const { client_id: clientId } of config.clients) {
  try {
    if (!await provider.Client.find(clientId)) fail(`config: client ${clientId} cannot be loaded`);
  } catch (error) {
    fail(`config: client ${clientId}: ${error.error_description ?? error.message}`);
  }
}

server.listen(config.port, config.host ?? '127.0.0.1', () => {
  log(`listening issuer=${config.issuer} clients=${config.clients.map((c) => c.client_id).join(',')} users=${users.size}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    log(`stopping (${signal})`);
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
