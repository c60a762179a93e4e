"""conversation messages, conversation events and canned replies (web gateway and agent inbox)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 17:10:00
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

import crm_connector.models.base

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

_STATUS = sa.Enum('bot', 'queued', 'agent', 'closed', name='conversationstatus',
                  native_enum=False, length=24)

#: A few prepared answers so a fresh inbox has some; agents' own are added in the database.
DEFAULT_CANNED_REPLIES = (
    ("Greeting", "Hello, I'm taking over from our assistant. Let me look into this for you."),
    ("Checking", "Thank you for your patience, I'm checking this with our warehouse now."),
    ("Refund started", "I've started the refund; you'll see the money within 5 to 7 business days."),
    ("Anything else", "Is there anything else I can help you with today?"),
    ("Goodbye", "Thank you for contacting us. Have a nice day!"),
)


def upgrade() -> None:
    op.create_table('canned_reply',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=100), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', crm_connector.models.base.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_canned_reply')),
    sa.UniqueConstraint('title', name=op.f('uq_canned_reply_title'))
    )
    op.create_table('conversation_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('started', 'queued', 'claimed', 'transferred', 'resolved', 'handed_back', 'reopened', 'rated', name='conversationeventkind', native_enum=False, length=24), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('target_agent_id', sa.Integer(), nullable=True),
    sa.Column('from_status', _STATUS, nullable=True),
    sa.Column('to_status', _STATUS, nullable=True),
    sa.Column('reason', sa.String(length=64), nullable=True),
    sa.Column('score', sa.Integer(), nullable=True),
    sa.Column('occurred_at', crm_connector.models.base.UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['agent_user.id'], name=op.f('fk_conversation_event_agent_id_agent_user')),
    sa.ForeignKeyConstraint(['conversation_id'], ['support_conversation.id'], name=op.f('fk_conversation_event_conversation_id_support_conversation'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['target_agent_id'], ['agent_user.id'], name=op.f('fk_conversation_event_target_agent_id_agent_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conversation_event'))
    )
    with op.batch_alter_table('conversation_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_conversation_event_conversation_id'), ['conversation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_conversation_event_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_conversation_event_occurred_at'), ['occurred_at'], unique=False)

    op.create_table('conversation_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sa.Integer(), nullable=False),
    sa.Column('author', sa.Enum('customer', 'bot', 'agent', 'system', name='messageauthor', native_enum=False, length=24), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('payload', sa.String(length=255), nullable=True),
    sa.Column('buttons', sa.JSON(), nullable=True),
    sa.Column('internal', sa.Boolean(), nullable=False),
    sa.Column('client_message_id', sa.String(length=64), nullable=True),
    sa.Column('delivery_state', sa.Enum('pending', 'delivered', 'handed_over', 'failed', name='deliverystate', native_enum=False, length=24), nullable=True),
    sa.Column('bot_metadata', sa.JSON(), nullable=True),
    sa.Column('created_at', crm_connector.models.base.UtcDateTime(), nullable=False),
    sa.Column('delivered_at', crm_connector.models.base.UtcDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['agent_id'], ['agent_user.id'], name=op.f('fk_conversation_message_agent_id_agent_user')),
    sa.ForeignKeyConstraint(['conversation_id'], ['support_conversation.id'], name=op.f('fk_conversation_message_conversation_id_support_conversation'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conversation_message')),
    sa.UniqueConstraint('conversation_id', 'client_message_id', name='uq_conversation_message_client_message_id')
    )
    with op.batch_alter_table('conversation_message', schema=None) as batch_op:
        batch_op.create_index('ix_conversation_message_conversation_id_id', ['conversation_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_conversation_message_created_at'), ['created_at'], unique=False)

    canned = sa.table('canned_reply', sa.column('title', sa.String), sa.column('text', sa.Text),
                      sa.column('active', sa.Boolean),
                      sa.column('created_at', crm_connector.models.base.UtcDateTime()))
    now = dt.datetime.now(dt.UTC)
    op.bulk_insert(canned, [{"title": t, "text": x, "active": True, "created_at": now}
                            for t, x in DEFAULT_CANNED_REPLIES])


def downgrade() -> None:
    with op.batch_alter_table('conversation_message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_conversation_message_created_at'))
        batch_op.drop_index('ix_conversation_message_conversation_id_id')
    op.drop_table('conversation_message')
    with op.batch_alter_table('conversation_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_conversation_event_occurred_at'))
        batch_op.drop_index(batch_op.f('ix_conversation_event_kind'))
        batch_op.drop_index(batch_op.f('ix_conversation_event_conversation_id'))
    op.drop_table('conversation_event')
    op.drop_table('canned_reply')
