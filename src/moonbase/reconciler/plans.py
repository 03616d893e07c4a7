"""Turning store rows into provisioner plans (and reserving ports on the way)."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from moonbase import catalog
from moonbase.models import Branch, Credential, Database, Instance
from moonbase.provisioners.base import BranchPlan, CredentialPlan, Provisioner


def plan_for(
    session: Session, branch: Branch, db: Database, provisioner: Provisioner, reserve: bool
) -> BranchPlan:
    size = catalog.size(branch.cluster_size, db.kind) or catalog.SIZES[0]
    instances = {
        i.ordinal: i
        for i in session.scalars(select(Instance).where(Instance.branch_id == branch.id))
    }
    wanted = branch.replicas + 1
    if reserve:
        missing = [n for n in range(wanted) if n not in instances]
        if missing:
            taken = set(session.scalars(select(Instance.port)))
            for ordinal in missing:
                port = provisioner.free_port(taken)
                taken.add(port)
                instances[ordinal] = Instance(branch_id=branch.id, ordinal=ordinal, port=port)
                session.add(instances[ordinal])
        extra = [n for n in instances if n >= wanted]
        if extra:
            session.execute(
                delete(Instance).where(Instance.branch_id == branch.id, Instance.ordinal >= wanted)
            )
            for n in extra:
                instances.pop(n)
        session.flush()
    ports = tuple(instances[n].port for n in sorted(instances))
    return BranchPlan(
        branch_id=branch.id,
        kind=db.kind,
        version=db.major_version,
        memory_mb=size.memory_mb,
        max_connections=size.max_connections,
        ports=ports,
        database_name=db.schema_name,
    )


def credential_plan(cred: Credential, ddl: bool = True) -> CredentialPlan:
    return CredentialPlan(
        username=cred.username,
        verifier=cred.verifier,
        role=cred.role,
        inherited_roles=tuple(cred.inherited_roles or ()),
        cidrs=tuple(cred.cidrs or ()),
        ddl=ddl,
    )
