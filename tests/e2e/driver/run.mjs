// PlanetScale's serverless driver against a Moonbase branch. Usage: node run.mjs <url> <bad-url>
// where <url> is http://<username>:<password>@<host>:<port>. Prints one JSON object: what
// each step saw, for tests/e2e/test_sql_over_http.py to check.
import { connect, Client, DatabaseError } from '@planetscale/database'

const [url, badUrl] = process.argv.slice(2)
const out = {}

async function failure(promise) {
  try {
    await promise
    return null
  } catch (err) {
    return { name: err.name, status: err.status ?? null, code: err.body?.code ?? null, message: err.message }
  }
}

const conn = connect({ url })
await conn.execute(
  'CREATE TABLE items (id bigint AUTO_INCREMENT PRIMARY KEY, name varchar(50) NOT NULL, ' +
  'price decimal(10,2), tags json, data varbinary(8), made datetime, n int, note text)'
)
const inserted = await conn.execute(
  'INSERT INTO items (name, price, tags, data, made, n) VALUES (?, ?, ?, ?, ?, ?)',
  ['café ☕ \'quoted\'', '9.50', JSON.stringify({ a: [1, 2] }), 'ab\x00c', '2026-11-28 10:00:00', 42]
)
out.insert = { insertId: inserted.insertId, rowsAffected: inserted.rowsAffected }

const selected = await conn.execute('SELECT * FROM items WHERE n = ?', [42])
const row = selected.rows[0]
out.select = {
  headers: selected.headers,
  types: selected.types,
  size: selected.size,
  row: { ...row, data: Array.from(row.data) }
}
const arrays = await conn.execute('SELECT id, name FROM items', null, { as: 'array' })
out.arrays = arrays.rows

out.missing = await failure(conn.execute('SELECT * FROM no_such_table'))
out.duplicate = await failure(conn.execute('INSERT INTO items (id, name) VALUES (1, ?)', ['again']))

// a transaction spans several HTTP calls on one connection; an exception rolls it back
out.rolledBack = await failure(
  conn.transaction(async (tx) => {
    await tx.execute('INSERT INTO items (name) VALUES (?)', ['never'])
    throw new Error('changed my mind')
  })
)
await conn.transaction(async (tx) => {
  await tx.execute('INSERT INTO items (name) VALUES (?)', ['kept'])
  const inside = await tx.execute('SELECT count(*) AS c FROM items')
  out.insideTransaction = inside.rows[0].c
})
out.names = (await conn.execute('SELECT name FROM items ORDER BY id')).rows.map((r) => r.name)

// a Client opens a new session per call
const client = new Client({ url })
out.client = (await client.execute('SELECT 1 + 1 AS two')).rows[0].two

out.badPassword = await failure(connect({ url: badUrl }).execute('SELECT 1'))
out.isDatabaseError = (await failure(conn.execute('SELEC 1'))) !== null && DatabaseError.name === 'DatabaseError'

console.log(JSON.stringify(out))
