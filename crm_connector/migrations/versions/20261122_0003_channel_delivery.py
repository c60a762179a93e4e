"""channel delivery: the durable outbox of the messaging channels (Telegram)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 23:05:31
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crm_connector.models.base

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('channel_delivery',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('external_conversation_id', sa.String(length=128), nullable=False),
    sa.Column('delivery_key', sa.String(length=128), nullable=True),
    sa.Column('conversation_message_id', sa.Integer(), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('buttons', sa.JSON(), nullable=True),
    sa.Column('state', sa.Enum('pending', 'sending', 'sent', 'failed', 'uncertain', name='channeldeliverystate', native_enum=False, length=24), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.String(length=64), nullable=True),
    sa.Column('created_at', crm_connector.models.base.UtcDateTime(), nullable=False),
    sa.Column('sent_at', crm_connector.models.base.UtcDateTime(), nullable=True),
    sa.Column('provider_message_id', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['conversation_message_id'], ['conversation_message.id'], name='fk_channel_delivery_conversation_message_id', ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_channel_delivery')),
    sa.UniqueConstraint('channel', 'delivery_key', name='uq_channel_delivery_channel_key')
    )
    with op.batch_alter_table('channel_delivery', schema=None) as batch_op:
        batch_op.create_index('ix_channel_delivery_channel_state_id', ['channel', 'state', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_channel_delivery_conversation_message_id'), ['conversation_message_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('channel_delivery', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_channel_delivery_conversation_message_id'))
        batch_op.drop_index('ix_channel_delivery_channel_state_id')
    op.drop_table('channel_delivery')
