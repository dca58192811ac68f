/**
 * Schema changes of 000006 on admission tables: birth_family.code_max_length (the per-family code
 * length limit) and birth_family_move (the record of every explicit move of a collection).
 */
import type { Ctx } from '../lib/ctx.js';
import { columnComments, comment } from '../lib/migration.js';
import { qi, sqlText } from '../lib/sql.js';
import { DEFAULT_CODE_LIMIT, MAX_CODE_LIMIT } from './v2_common.js';

export function tablesUp(c: Ctx): string[] {
  const move = c.q('birth_family_move');
  return [
    sqlText`
      ALTER TABLE ${c.q('birth_family')}
          ADD COLUMN IF NOT EXISTS "code_max_length" integer DEFAULT ${DEFAULT_CODE_LIMIT} NOT NULL
          CONSTRAINT "birth_family_code_max_length_check" CHECK (code_max_length BETWEEN 1 AND ${MAX_CODE_LIMIT});
      ${comment('COLUMN', `${c.q('birth_family')}."code_max_length"`, `Longest code (characters) the family admits; issue_permit, the gates and retire refuse longer codes (BG152). Default ${DEFAULT_CODE_LIMIT}, at most ${MAX_CODE_LIMIT} (the registry index must hold it).`)}`,
    sqlText`
      CREATE TABLE ${move} (
          "move_id" bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          "collection_name" text NOT NULL REFERENCES ${c.q('birth_family')} ("collection_name") ON DELETE RESTRICT,
          "from_table" oid NOT NULL,
          "from_table_name" text NOT NULL,
          "to_table" oid NOT NULL,
          "reason" text NOT NULL CHECK (btrim(reason) <> ''),
          "moved_by" name NOT NULL,
          "login_user" name DEFAULT session_user NOT NULL,
          "moved_at" timestamptz DEFAULT clock_timestamp() NOT NULL
      );
      CREATE INDEX "birth_family_move_from_table_idx" ON ${move} ("from_table");
      REVOKE ALL ON TABLE ${move} FROM PUBLIC;
      GRANT SELECT ON TABLE ${move} TO ${qi(c.roles.reader)}, ${qi(c.roles.admin)};
      ${comment('TABLE', move, 'Every explicit move of a collection to another table (move_family): who, when, why, from and to. The drift monitor keeps reporting a former table that still exists as governed but without gates.')}
      ${columnComments(c, 'birth_family_move', {
        from_table: 'oid of the table the collection left (it may since be dropped).',
        from_table_name: 'schema.table of the table the collection left, as it was named then.',
        to_table: 'oid of the table the collection moved to.',
        moved_by: 'Role that moved it (SET ROLE role, else the session user).',
      })}`,
  ];
}

export function tablesDown(c: Ctx): string[] {
  return [`DROP TABLE ${c.q('birth_family_move')};`, `ALTER TABLE ${c.q('birth_family')} DROP COLUMN "code_max_length";`];
}
